/**
 * CPU and memory of process groups, from /proc/PID/stat lines: pure arithmetic, so that it is
 * tested with fixture text (the sampler in usage-sampler.ts does the reading).
 *
 * An instance is a process group (its pgid is the pid the agent spawned): its usage is the sum
 * over every live member. CPU counts each member's own time plus the time of the children it
 * has reaped (cutime, cstime), so a shell loop running short-lived commands is counted too;
 * a child still alive is counted once, by its own line.
 */
import type { ProcStat } from '../supervisor/proc-stat';

/** The machine's units: clock ticks per second (getconf CLK_TCK) and bytes per page. */
export interface ProcUnits {
  ticksPerSecond: number;
  pageBytes: number;
}

export interface GroupUsage {
  /** CPU seconds (user + system) of the group since its processes started. */
  cpuSeconds: number;
  rssBytes: number;
  /** Live members (zombies excluded). */
  processes: number;
}

/**
 * Sums the usage of the groups in `pgids` over the given stat lines; groups with no live
 * member are absent from the result. One pass over `stats`, whatever the number of groups.
 */
export function usageByGroup(stats: Iterable<ProcStat>, pgids: ReadonlySet<number>, units: ProcUnits): Map<number, GroupUsage> {
  const out = new Map<number, GroupUsage>();
  for (const s of stats) {
    if (!pgids.has(s.pgid) || s.state === 'Z') continue;
    let group = out.get(s.pgid);
    if (!group) out.set(s.pgid, (group = { cpuSeconds: 0, rssBytes: 0, processes: 0 }));
    const ticks = finite(s.utime) + finite(s.stime) + finite(s.cutime) + finite(s.cstime);
    group.cpuSeconds += ticks / units.ticksPerSecond;
    group.rssBytes += finite(s.rssPages) * units.pageBytes;
    group.processes++;
  }
  return out;
}

/** A previous sample of the same group: its CPU seconds and when it was taken. */
export interface CpuSample {
  cpuSeconds: number;
  atMs: number;
}

/**
 * CPU use between two samples of the same group, in percent of one core (two busy cores: 200,
 * as `top` shows it). Undefined without a usable previous sample: none, no time between them,
 * or a CPU total that went down (a member that exited unreaped took its time with it).
 */
export function cpuPercent(previous: CpuSample | undefined, current: CpuSample): number | undefined {
  if (!previous) return undefined;
  const elapsedMs = current.atMs - previous.atMs;
  const used = current.cpuSeconds - previous.cpuSeconds;
  if (elapsedMs <= 0 || used < 0) return undefined;
  return (used * 1000 * 100) / elapsedMs;
}

function finite(n: number): number {
  return Number.isFinite(n) && n > 0 ? n : 0;
}
