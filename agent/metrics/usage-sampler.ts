/**
 * Samples the CPU and memory of every instance this agent runs, every few seconds: one scan
 * of /proc per sample for all instances (each /proc/PID/stat read once), so the cost grows
 * with the processes on the host, not with instances × processes. Measured in docs/metrics.md.
 *
 * Nothing here goes to etcd: `ps` asks the agent (AgentStats.Usage) and Prometheus scrapes it.
 */
import { execFileSync } from 'node:child_process';
import { allPids, procStat, type ProcStat } from '../supervisor/proc-stat';
import { cpuPercent, usageByGroup, type GroupUsage, type ProcUnits } from './process-usage';

/** An instance to sample: its process group is `pid` (the agent spawns each in its own group). */
export interface SampledInstance {
  app: string;
  instance: string;
  type: string;
  pid: number;
}

export interface InstanceUsage extends SampledInstance {
  /** CPU seconds of the group since it started; never goes down for the same group. */
  cpuSeconds: number;
  rssBytes: number;
  /** Between the last two samples, percent of one core; undefined after a group's first sample. */
  cpuPercent?: number;
  sampledAtMs: number;
}

export const DEFAULT_SAMPLE_MS = 5_000;

export class UsageSampler {
  private latest = new Map<number, InstanceUsage>();
  private timer?: NodeJS.Timeout;
  /** Duration of the last scan (ms), for the agent's own metrics. */
  lastScanMs = 0;

  constructor(
    private readonly instances: () => SampledInstance[],
    private readonly units: ProcUnits = procUnits(),
    private readonly readStats: () => Iterable<ProcStat> = readAllStats,
  ) {}

  start(everyMs = DEFAULT_SAMPLE_MS): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), everyMs);
    this.timer.unref();
  }

  close(): void {
    clearInterval(this.timer);
  }

  /** The last sample of each instance still running (optionally of one app), by app and name. */
  usage(app?: string): InstanceUsage[] {
    const out: InstanceUsage[] = [];
    for (const u of this.latest.values()) if (!app || u.app === app) out.push(u);
    return out;
  }

  /** Takes a sample now (the timer calls it; tests too). */
  sample(now = Date.now()): void {
    const started = performance.now();
    const wanted = this.instances().filter((i) => Number.isInteger(i.pid) && i.pid > 1);
    const pgids = new Set(wanted.map((i) => i.pid));
    const groups = pgids.size > 0 ? usageByGroup(this.readStats(), pgids, this.units) : new Map<number, GroupUsage>();
    const next = new Map<number, InstanceUsage>();
    for (const inst of wanted) {
      const group = groups.get(inst.pid);
      if (!group) continue; // exited since the list was made: its exit is on its way
      const before = this.latest.get(inst.pid);
      const same = before !== undefined && before.app === inst.app && before.instance === inst.instance;
      // A member that exited but is not reaped yet takes its time away for a moment: hold the total.
      const cpuSeconds = same ? Math.max(before.cpuSeconds, group.cpuSeconds) : group.cpuSeconds;
      next.set(inst.pid, {
        ...inst,
        cpuSeconds,
        rssBytes: group.rssBytes,
        cpuPercent: same ? cpuPercent({ cpuSeconds: before.cpuSeconds, atMs: before.sampledAtMs }, { cpuSeconds, atMs: now }) : undefined,
        sampledAtMs: now,
      });
    }
    this.latest = next;
    this.lastScanMs = performance.now() - started;
  }
}

/** Every process's stat line now (processes that exit during the scan are skipped). */
export function* readAllStats(): Generator<ProcStat> {
  for (const pid of allPids() ?? []) {
    const stat = procStat(pid);
    if (stat) yield stat;
  }
}

let units: ProcUnits | undefined;

/** CLK_TCK and the page size of this machine (getconf), read once; Linux's usual values otherwise. */
export function procUnits(): ProcUnits {
  units ??= { ticksPerSecond: getconf('CLK_TCK', 100), pageBytes: getconf('PAGESIZE', 4096) };
  return units;
}

function getconf(name: string, fallback: number): number {
  try {
    const n = Number(execFileSync('getconf', [name], { encoding: 'utf8', timeout: 2_000 }).trim());
    return Number.isInteger(n) && n > 0 ? n : fallback;
  } catch {
    return fallback;
  }
}
