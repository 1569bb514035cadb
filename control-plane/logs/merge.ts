/** Ordering of log lines from many hosts. */
import type { LogLine__Output } from '../../proto/gen/cluster/logs/LogLine';

/** By time, then the agent's sequence number, then instance name. */
export function compareLines(a: LogLine__Output, b: LogLine__Output): number {
  return a.time_ms - b.time_ms || a.seq - b.seq || (a.instance < b.instance ? -1 : a.instance > b.instance ? 1 : 0);
}

/** The last `n` lines of the merged history of several hosts (sorts `lines` in place). */
export function mergedTail(lines: LogLine__Output[], n: number): LogLine__Output[] {
  if (n <= 0) return [];
  lines.sort(compareLines);
  return lines.slice(-n);
}
