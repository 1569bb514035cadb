/**
 * Stops what an instance or a one-off left running outside its process group once it has ended.
 *
 * A stop signals the instance's process group, and a process whose main process exits has the
 * rest of its group killed (child-process.ts). A process that starts a session of its own
 * (`setsid`, Python's `start_new_session`, a daemon's double fork) leaves that group, so neither
 * reached it: a crash loop of such a program left a hundred orphans a minute, and a scale to 0
 * left them running for good. Each still carries its instance's markers in its environment
 * (CLUSTER_HOST, CLUSTER_AGENT_DIR, CLUSTER_APP, CLUSTER_INSTANCE: instance-env.ts), so once a
 * tracked group has ended, one scan of /proc finds them. A process of this agent that is in no
 * live group is stopped — SIGTERM to its group, SIGKILL `graceMs` later — unless it started
 * after the live process of its own instance: that is a helper of the process running now, left
 * alone while it runs, as a restarted agent leaves it (handover/take-over.ts).
 *
 * A scan reads every process's stat (tens of ms with a few hundred processes), so scans run only
 * after a group has ended, at most one every `intervalMs`, and read the environment only of
 * processes started since the earliest of the groups that ended: what an ended process left
 * behind started after it.
 */
import type { Logger } from '../../lib/log';
import { procStat, type ProcStat } from './proc-stat';
import { markedProcesses } from './marked-processes';
import { groupExists, groupHasLiveMembers, groupIdReused, signalGroup } from './process-group';
import { setTimeout as delay } from 'node:timers/promises';

/** A process stopped because it outlived its instance. */
export interface Escapee {
  pid: number;
  /** Its program's name (comm), for the instance's log. */
  name: string;
}

export interface EscapeeOptions {
  agentId: string;
  /** The agent's data dir, absolute (instance-env.ts). */
  agentDir: string;
  logger: Logger;
  /** Told what was stopped of an instance, once SIGTERM has gone out (for the instance's log). */
  onStopped?(app: string, instance: string, escapees: Escapee[]): void;
  /** SIGTERM → SIGKILL. Default 2 s, as for the leftovers of an earlier agent run. */
  graceMs?: number;
  /** Shortest time between two scans. Default 1 s. */
  intervalMs?: number;
  /** From the first group that ended to the scan. Default 200 ms. */
  delayMs?: number;
}

interface LiveGroup {
  app: string;
  instance: string;
  /** Its leader's start (boot clock ticks); undefined when it was gone before it could be read. */
  startTicks?: number;
}

export class EscapeeSweeper {
  /**
   * The live groups by pgid, oldest first: a group's end is told once its pipes are read to the
   * end (up to 2 s after it emptied, child-process.ts), and its pgid may be given to a new group
   * meanwhile; that end then ends the older one, not the new one.
   */
  private readonly live = new Map<number, LiveGroup[]>();
  /** The earliest start among the groups that ended since the last scan; null: none ended. */
  private since: number | null = null;
  private timer: NodeJS.Timeout | undefined;
  private lastScanAt = -Infinity;
  private running: Promise<void> = Promise.resolve();
  private closed = false;
  private readonly graceMs: number;
  private readonly intervalMs: number;
  private readonly delayMs: number;

  constructor(private readonly opts: EscapeeOptions) {
    this.graceMs = opts.graceMs ?? 2_000;
    this.intervalMs = opts.intervalMs ?? 1_000;
    this.delayMs = opts.delayMs ?? 200;
  }

  /** A process group of `app`'s `instance` started (its pgid is its leader's pid); `startTicks` when known already. */
  track(pgid: number, app: string, instance: string, startTicks?: number): void {
    const group = { app, instance, startTicks: startTicks ?? procStat(pgid)?.startTicks };
    this.live.set(pgid, [...(this.live.get(pgid) ?? []), group]);
  }

  /** Group `pgid` is gone: look for what it left outside it. */
  ended(pgid: number): void {
    const groups = this.live.get(pgid);
    const group = groups?.shift();
    if (!group) return;
    if (groups!.length === 0) this.live.delete(pgid);
    const start = group.startTicks ?? 0;
    this.since = this.since === null ? start : Math.min(this.since, start);
    this.schedule();
  }

  /** Scans now for what the groups that ended left, and resolves once it is gone (SIGKILL after the grace). */
  async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.scanAndStop();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    if (this.timer || this.closed) return;
    const wait = Math.max(this.delayMs, this.lastScanAt + this.intervalMs - performance.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      // scanAndStop() never rejects: a failed scan is logged there.
      this.scanAndStop().catch(() => undefined);
    }, wait);
    this.timer.unref();
  }

  private scanAndStop(): Promise<void> {
    // One scan at a time: a stop still within its grace is not signalled twice.
    this.running = this.running.then(async () => {
      if (this.since === null) return;
      const since = this.since;
      this.since = null;
      this.lastScanAt = performance.now();
      try {
        const found = this.scan(since);
        if (found.size > 0) await this.stop(found);
      } catch (err) {
        this.opts.logger.error({ err }, 'bug: looking for processes that outlived their instance failed');
      }
    });
    return this.running;
  }

  /** The groups to stop, by instance (`app/instance` → pgid → its processes). */
  private scan(sinceTicks: number): Map<string, Map<number, Escapee[]>> {
    const found = new Map<string, Map<number, Escapee[]>>();
    const skip = (stat: ProcStat) => stat.startTicks < sinceTicks || this.live.has(stat.pgid);
    for (const p of markedProcesses(this.opts.agentId, this.opts.agentDir, skip)) {
      const app = p.app ?? '';
      const instance = p.instance ?? '';
      if (p.watchdog || this.helperOfLive(app, instance, p.stat.startTicks)) continue;
      const key = `${app}/${instance}`;
      let groups = found.get(key);
      if (!groups) found.set(key, (groups = new Map<number, Escapee[]>()));
      groups.set(p.stat.pgid, [...(groups.get(p.stat.pgid) ?? []), { pid: p.pid, name: p.stat.comm }]);
    }
    return found;
  }

  /** Whether a process of `app`'s `instance` started at `startTicks` belongs to that instance's live process (started after it). */
  private helperOfLive(app: string, instance: string, startTicks: number): boolean {
    for (const groups of this.live.values()) {
      for (const group of groups) {
        // Start times count 10 ms ticks: one in the same tick as the live process counts as its own.
        if (group.app === app && group.instance === instance && (group.startTicks === undefined || startTicks >= group.startTicks)) return true;
      }
    }
    return false;
  }

  private async stop(found: Map<string, Map<number, Escapee[]>>): Promise<void> {
    const pgids: number[] = [];
    // Each group's leader as it is now (none: its leader has exited), to tell it from a new
    // process given the id once the group has ended (pid wrap-around), which leads a group too.
    const leaders = new Map<number, number | undefined>();
    for (const [key, groups] of found) {
      const slash = key.indexOf('/');
      const escapees = [...groups.values()].flat();
      this.opts.logger.warn({ app: key.slice(0, slash), instance: key.slice(slash + 1), pids: escapees.map((e) => e.pid) }, 'processes outlived their instance in a session of their own; stopping them');
      for (const pgid of groups.keys()) {
        leaders.set(pgid, procStat(pgid)?.startTicks);
        signalGroup(pgid, 'SIGTERM');
        pgids.push(pgid);
      }
      this.opts.onStopped?.(key.slice(0, slash), key.slice(slash + 1), escapees);
    }
    const sentAt = performance.now();
    const deadline = sentAt + this.graceMs;
    // Zombies do not count: orphans are reaped by PID 1, which some inits do lazily.
    while (pgids.some((pgid) => groupHasLiveMembers(pgid, sentAt)) && performance.now() < deadline) await delay(50);
    // Only groups still there: one gone may have had its id given to a new group, ours (tracked) or not.
    for (const pgid of pgids) if (groupExists(pgid) && !this.live.has(pgid) && !groupIdReused(pgid, leaders.get(pgid))) signalGroup(pgid, 'SIGKILL');
  }
}
