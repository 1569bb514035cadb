/** One line of instance output as the agent stores and serves it, and how lines are filtered and ordered. */

/** Where a line came from: the process's stdout or stderr, or the agent itself (restarts, gaps). */
export type LogStream = 'stdout' | 'stderr' | 'system';

/** A stored line. (timeMs, seq, instance) identifies it; `cut` marks every piece of an over-long line but its last. */
export interface LogLine {
  timeMs: number;
  seq: number;
  app: string;
  instance: string;
  stream: LogStream;
  text: string;
  cut: boolean;
  /**
   * Its ordinal in the instance's files in this agent run (1, 2, …; see disk-writer.ts); 0 or
   * absent when it has none (read from an older run's part of a file, dropped from disk, a marker).
   */
  n?: number;
  /**
   * The text as UTF-8 bytes, raw[rawStart, rawEnd), when the line has them (captured from a
   * pipe, or read from a file: StoredLine in log-format.ts): they are written and packed as they
   * are, and `text` is made only when someone asks for it.
   */
  raw?: Buffer;
  rawStart?: number;
  rawEnd?: number;
}

/**
 * Whole lines of one chunk of output as bytes: line k is chunk[starts[k], ends[k]), valid UTF-8,
 * without its newline (supervisor/line-splitter.ts's LineRun). The arrays are the sender's.
 */
export interface ByteLines {
  chunk: Buffer;
  starts: Uint32Array;
  ends: Uint32Array;
  count: number;
}

/** The size of a line's text without decoding it: its bytes when it has them, else its UTF-16 length. */
export function textLength(line: LogLine): number {
  return line.raw !== undefined ? line.rawEnd! - line.rawStart! : line.text.length;
}

/**
 * Which lines a reader wants: one app, optionally one process type (`worker` matches
 * `worker.3`) or one instance (exact). An empty string means "any", as proto3 defaults do.
 */
export interface LogFilter {
  app: string;
  type?: string;
  instance?: string;
}

/** The process type of an instance name: the part before the first dot (`worker` for `worker.3`). */
export function instanceType(instance: string): string {
  const dot = instance.indexOf('.');
  return dot === -1 ? instance : instance.slice(0, dot);
}

/** True when lines of `instance` of `app` pass `filter`. */
export function matches(filter: LogFilter, app: string, instance: string): boolean {
  if (filter.app !== app) return false;
  if (filter.instance && filter.instance !== instance) return false;
  if (filter.type && instanceType(instance) !== filter.type) return false;
  return true;
}

/** Orders lines by time, then sequence number, then instance name. */
export function compareLines(a: LogLine, b: LogLine): number {
  if (a.timeMs !== b.timeMs) return a.timeMs - b.timeMs;
  if (a.seq !== b.seq) return a.seq - b.seq;
  return a.instance < b.instance ? -1 : a.instance > b.instance ? 1 : 0;
}
