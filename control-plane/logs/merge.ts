/** Ordering of log lines from many hosts. */

/** What ordering needs of a line (the wire LogLine and lib/log-packing.ts's UnpackedLine both have it). */
export interface OrderedLine {
  time_ms: number;
  seq: number;
  instance: string;
}

/** By time, then the agent's sequence number, then instance name. */
export function compareLines(a: OrderedLine, b: OrderedLine): number {
  return a.time_ms - b.time_ms || a.seq - b.seq || (a.instance < b.instance ? -1 : a.instance > b.instance ? 1 : 0);
}
