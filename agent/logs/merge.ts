/** Merging per-instance line lists (each in order) into the newest lines overall. */
import { compareLines, type LogLine } from './log-line';

/** A merge result: the newest lines, oldest first; `full` when older lines could not be added. */
export interface Merged {
  lines: LogLine[];
  full: boolean;
}

/** The newest `limit` lines (and at most about `maxChars` of text) of sorted lists, merged in order. */
export function newest(lists: LogLine[][], limit: number, maxChars: number): Merged {
  let all: LogLine[];
  if (lists.length === 0) all = [];
  else if (lists.length === 1) all = lists[0]!;
  else if (lists.length === 2) all = mergeTwo(lists[0]!, lists[1]!);
  // Concatenated sorted runs: V8's TimSort merges them in about linear time.
  else all = ([] as LogLine[]).concat(...lists).sort(compareLines);
  let start = all.length;
  let chars = 0;
  while (start > 0 && all.length - start < limit) {
    const len = all[start - 1]!.text.length;
    if (chars + len > maxChars && start < all.length) return { lines: all.slice(start), full: true };
    chars += len;
    start--;
  }
  return { lines: start === 0 ? all : all.slice(start), full: all.length - start >= limit };
}

function mergeTwo(a: LogLine[], b: LogLine[]): LogLine[] {
  if (a.length === 0) return b;
  if (b.length === 0) return a;
  const out = new Array<LogLine>(a.length + b.length);
  let i = 0;
  let j = 0;
  let k = 0;
  while (i < a.length && j < b.length) out[k++] = compareLines(a[i]!, b[j]!) <= 0 ? a[i++]! : b[j++]!;
  while (i < a.length) out[k++] = a[i++]!;
  while (j < b.length) out[k++] = b[j++]!;
  return out;
}
