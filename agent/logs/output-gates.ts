/**
 * The output gates of the store's instances: the log mode of each (blocking or not, set by
 * `cluster ps:logs`), remembered by name so an instance forgotten and made again keeps it, and
 * the instances whose pipe readers wait for their disk writer to catch up, which every write
 * lets go once they are no longer behind. The gate itself is InstanceLog's (instance-log.ts).
 * See docs/logs.md (Capture).
 */
import type { InstanceLog, OutputGate } from './instance-log';

export class OutputGates {
  /** Blocking or not, per instance the agent runs; one small entry per instance name. */
  private readonly modes = new Map<string, boolean>();
  /** Instances whose pipe readers wait for their writer to catch up. */
  private readonly waiting = new Set<InstanceLog>();

  /** @param lookup the instance of that name now, if the store has one. */
  constructor(private readonly lookup: (app: string, instance: string) => InstanceLog | undefined) {}

  /**
   * The gate of an instance, which its pipe reader asks before reading on, and its mode from
   * now on. By name, not by object: the instance may be forgotten and made again behind it.
   */
  gate(app: string, instance: string, blocking: boolean): OutputGate {
    this.modes.set(modeKey(app, instance), blocking);
    this.lookup(app, instance)?.setBlocking(blocking);
    return {
      blocked: () => this.lookup(app, instance)?.blocked() ?? false,
      whenOpen: (resume) => {
        const inst = this.lookup(app, instance);
        if (inst === undefined) resume();
        else inst.whenOpen(resume);
      },
    };
  }

  /** The mode set for an instance; non-blocking when none was (one-off processes, the agent's own lines). */
  blocking(app: string, instance: string): boolean {
    return this.modes.get(modeKey(app, instance)) ?? false;
  }

  /** Whether a process type's log mode was set for an instance (none is for one-off processes). */
  hasMode(app: string, instance: string): boolean {
    return this.modes.has(modeKey(app, instance));
  }

  /** An instance has readers waiting for its gate to open. */
  wait(inst: InstanceLog): void {
    this.waiting.add(inst);
  }

  /** After a write: readers waiting for their instance's writer may go on. */
  wrote(): void {
    if (this.waiting.size === 0) return;
    for (const inst of this.waiting) if (inst.openGate()) this.waiting.delete(inst);
  }
}

function modeKey(app: string, instance: string): string {
  return `${app}\u0000${instance}`;
}
