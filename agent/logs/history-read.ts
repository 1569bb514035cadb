/**
 * History that fits in one answer (up to 100,000 lines): the newest `limit` lines of several
 * instances, from their memory tails when those hold them, else from their files read
 * backwards, merged in compareLines order. Larger history is streamed (history-stream.ts).
 */
import type { LogLine } from './log-line';
import type { InstanceLog } from './instance-log';
import { newest } from './merge';
import { readTail } from './tail-reader';

/**
 * The newest `limit` lines (about `maxChars` of text at most) with seq ≤ `seam`; with `keep`,
 * of the lines it accepts, however far back in the files they are (the files are read
 * backwards a chunk at a time, so the cost is a scan, not memory).
 */
export async function readHistory(
  instances: InstanceLog[],
  limit: number,
  maxChars: number,
  seam: number,
  keep: ((line: LogLine) => boolean) | undefined,
  onError: (err: unknown, inst: InstanceLog) => void,
): Promise<LogLine[]> {
  const inMemory: LogLine[][] = [];
  const onDisk: InstanceLog[] = [];
  for (const inst of instances) {
    const lines = inst.tail.last(limit, keep);
    if (lines !== undefined) inMemory.push(lines);
    else onDisk.push(inst);
  }
  let result = newest(inMemory, limit, maxChars);
  if (onDisk.length === 0) return result.lines;
  // Everything up to the seam must be in the files before they are read.
  await Promise.all(onDisk.map((inst) => inst.writer.flush()));
  // One instance at a time, so only one instance's lines are in flight beside the result;
  // once the result is full, older lines need not be read at all, so the newest go first.
  onDisk.sort((a, b) => b.lastTime - a.lastTime);
  for (const inst of onDisk) {
    try {
      const lines = await readTail({
        paths: inst.writer.pathsNewestFirst(),
        app: inst.app,
        instance: inst.instance,
        limit,
        maxChars,
        maxSeq: seam,
        after: result.full ? result.lines[0] : undefined,
        keep,
      });
      result = newest([result.lines, lines], limit, maxChars);
    } catch (err) {
      onError(err, inst);
    }
  }
  return result.lines;
}
