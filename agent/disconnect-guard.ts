/**
 * The disconnected grace: how long an agent cut off from every control plane keeps its
 * instances running. 0 (the default) keeps them running however long the cut lasts, so a
 * control-plane outage never takes apps down. A positive grace trades that for never running
 * an instance twice during a long partition: when it has passed, the agent stops everything
 * (the control plane will have placed the instances elsewhere once the agent's lease expired)
 * and runs again whatever the next assignment snapshot says it still owns: once a control plane
 * answers heartbeats again, the guard asks for one (earlier snapshots, from replicas the agent
 * tried while it was cut off, lift nothing).
 */
import type { Logger } from '../lib/log';

/** What the guard needs to hear from the link to the control plane. */
export interface Reachability {
  /** The control plane stopped answering; `sinceMs` is when the first call failed (epoch ms). */
  on(event: 'unreachable', listener: (sinceMs: number) => void): unknown;
  /** It answers again. */
  on(event: 'reachable', listener: () => void): unknown;
  off(event: 'unreachable', listener: (sinceMs: number) => void): unknown;
  off(event: 'reachable', listener: () => void): unknown;
}

/** What the guard stops: the reconciler, which resumes on the next snapshot once allowed to. */
export interface Suspendable {
  suspend(reason: string): void;
  /** A control plane answers again: the next snapshot may lift the suspension (no earlier one). */
  allowResume(): void;
  readonly isSuspended: boolean;
}

export class DisconnectGuard {
  private timer?: NodeJS.Timeout;

  private readonly onUnreachable = (sinceMs: number) => {
    clearTimeout(this.timer);
    // Cut off again while still stopped: a snapshot allowed by the last answer no longer counts.
    if (this.target.isSuspended) this.target.suspend('no control plane reachable again before assignments came (disconnected grace)');
    const delay = Math.max(0, sinceMs + this.graceMs - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const seconds = Math.round((Date.now() - sinceMs) / 1000);
      this.logger.warn({ graceMs: this.graceMs }, 'no control plane reachable for longer than the disconnected grace');
      this.target.suspend(`no control plane reachable for ${seconds} s (disconnected grace)`);
    }, delay);
  };

  private readonly onReachable = () => {
    clearTimeout(this.timer);
    this.timer = undefined;
    // The assignment stream may never have broken (a replica that lost etcd still holds it):
    // without a fresh snapshot nothing would lift the suspension. Snapshots that came before
    // this (the link switching between replicas that cannot reach etcd) lift nothing.
    if (this.target.isSuspended) {
      this.target.allowResume();
      this.askSnapshot();
    }
  };

  constructor(
    private readonly graceMs: number,
    private readonly link: Reachability,
    private readonly target: Suspendable,
    private readonly logger: Logger,
    /** Asks the control plane for a fresh snapshot of the assignments (reopens the stream). */
    private readonly askSnapshot: () => void,
  ) {
    if (graceMs <= 0) return; // 0: keep running forever; nothing to watch
    link.on('unreachable', this.onUnreachable);
    link.on('reachable', this.onReachable);
  }

  close(): void {
    clearTimeout(this.timer);
    this.link.off('unreachable', this.onUnreachable);
    this.link.off('reachable', this.onReachable);
  }
}
