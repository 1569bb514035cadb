/**
 * Reads the newest lines of an instance's log files from the end backwards, a chunk at a
 * time, so a history request costs what it returns, not the size of the files.
 */
import * as fs from 'node:fs';
import { compareLines, type LogLine } from './log-line';
import { eachLineBackwards, parseLine, parseStoredLine } from './log-format';

const CHUNK = 64 * 1024;
const LF = 0x0a;
/** A "line" longer than this has no place in our files (lines are ≤16 KiB): skip it as garbage. */
const MAX_LINE = 1024 * 1024;

/** What to read from one instance's files. */
export interface TailRequest {
  /** The instance's files, newest first. A file that no longer exists ends the read (older ones were deleted). */
  paths: string[];
  app: string;
  instance: string;
  /** At most this many lines... */
  limit: number;
  /** ...with at most about this much text in all... */
  maxChars: number;
  /** ...none with a seq above this (they came after the reader's seam)... */
  maxSeq: number;
  /** ...and none ordered at or before this line (it would not make the merged result)... */
  after?: LogLine;
  /**
   * ...of those this accepts (`logs --source`), looked for however far back they are: the
   * others are skipped, and count neither towards `limit` nor towards `maxChars`.
   */
  keep?: (line: LogLine) => boolean;
}

/** The newest lines that satisfy `req`, oldest first. */
export async function readTail(req: TailRequest): Promise<LogLine[]> {
  const newestFirst: LogLine[] = [];
  let chars = 0;
  // Returns false once enough lines are collected or older lines cannot be wanted.
  const take = (line: LogLine): boolean => {
    if (line.seq > req.maxSeq) return true;
    if (req.after !== undefined && compareLines(line, req.after) <= 0) return false;
    newestFirst.push(line);
    chars += line.text.length;
    return newestFirst.length < req.limit && chars < req.maxChars;
  };
  if (req.limit <= 0) return [];
  for (const path of req.paths) {
    let handle: fs.promises.FileHandle;
    try {
      handle = await fs.promises.open(path, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') break;
      throw err;
    }
    try {
      const keep = req.keep;
      const more = await readFileBackwards(handle, (buf, start, end) => {
        // Filtered: a line is looked at as bytes, and made a string only when it is kept.
        if (keep !== undefined) {
          const stored = parseStoredLine(buf, start, end, req.app, req.instance);
          if (stored === undefined || stored.seq > req.maxSeq) return true;
          if (!keep(stored)) return req.after === undefined || compareLines(stored, req.after) > 0;
        }
        const line = parseLine(buf, start, end, req.app, req.instance);
        return line === undefined ? true : take(line);
      });
      if (!more) break;
    } finally {
      await handle.close();
    }
  }
  return newestFirst.reverse();
}

/** Feeds each complete line of a file to `onLine`, last first; false when `onLine` asked to stop. */
export async function readFileBackwards(handle: fs.promises.FileHandle, onLine: (buf: Buffer, start: number, end: number) => boolean): Promise<boolean> {
  let pos = (await handle.stat()).size;
  // The start of a line whose beginning lies in the part of the file not read yet.
  let carry: Buffer | undefined;
  let atFileEnd = true;
  while (pos > 0) {
    const n = Math.min(CHUNK, pos);
    pos -= n;
    const buf = Buffer.allocUnsafe(n + (carry?.length ?? 0));
    let got = 0;
    while (got < n) {
      const { bytesRead } = await handle.read(buf, got, n - got, pos + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    if (got < n) return true; // the file shrank under us (deleted and truncated?): stop quietly
    carry?.copy(buf, n);
    let end = buf.length;
    if (atFileEnd) {
      // Bytes after the last newline are a write in progress or torn by a crash: not a line yet.
      atFileEnd = false;
      const nl = buf.lastIndexOf(LF);
      if (nl === -1) {
        atFileEnd = true;
        carry = undefined;
        continue;
      }
      end = nl;
    }
    const first = eachLineBackwards(buf, end, (start, lineEnd) => onLine(buf, start, lineEnd));
    if (first === -1) return false;
    if (pos === 0) return first === 0 || onLine(buf, 0, first);
    // Keep the unfinished first piece for the next chunk; a piece that big is garbage.
    carry = first > MAX_LINE ? undefined : Buffer.from(buf.subarray(0, first));
  }
  return true;
}

/** The last line of a file and whether the file ends with a newline (so appending is safe). */
export function lastLineSync(path: string, app: string, instance: string): { line: LogLine | undefined; endsClean: boolean } {
  const fd = fs.openSync(path, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    if (size === 0) return { line: undefined, endsClean: true };
    const lastByte = Buffer.alloc(1);
    fs.readSync(fd, lastByte, 0, 1, size - 1);
    const endsClean = lastByte[0] === LF;
    let pos = size;
    let carry = Buffer.alloc(0);
    let atFileEnd = true;
    // Scan back at most a few MiB: lines are short, so the last good one is near the end.
    // Small reads first: the store reads this for every instance at open, and lines are short.
    let chunk = 4096;
    while (pos > 0 && size - pos < 4 * MAX_LINE) {
      const n = Math.min(chunk, pos);
      chunk = Math.min(CHUNK, chunk * 4);
      pos -= n;
      const buf = Buffer.allocUnsafe(n + carry.length);
      const got = fs.readSync(fd, buf, 0, n, pos);
      if (got < n) break;
      carry.copy(buf, n);
      let end = buf.length;
      if (atFileEnd) {
        atFileEnd = false;
        const nl = buf.lastIndexOf(LF);
        if (nl === -1) {
          atFileEnd = true;
          carry = Buffer.alloc(0);
          continue;
        }
        end = nl;
      }
      let found: LogLine | undefined;
      const first = eachLineBackwards(buf, end, (start, lineEnd) => {
        found = parseLine(buf, start, lineEnd, app, instance);
        return found === undefined;
      });
      if (found !== undefined) return { line: found, endsClean };
      if (pos === 0 && first > 0) return { line: parseLine(buf, 0, first, app, instance), endsClean };
      carry = first > MAX_LINE ? Buffer.alloc(0) : Buffer.from(buf.subarray(0, first));
    }
    return { line: undefined, endsClean };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Walks an instance's files backwards (paths newest first) counting the lines with seq ≤ maxSeq
 * that `keep` accepts, in constant memory. With `nth`, stops at the nth and returns its seq;
 * with `from`, counts those with seq ≥ from. Returns { seq: 0 } when there are fewer.
 */
export async function countBackwards(
  paths: string[],
  app: string,
  instance: string,
  q: { maxSeq: number; keep: (line: LogLine) => boolean; nth?: number; from?: number },
): Promise<{ count: number; seq: number }> {
  let count = 0;
  let seq = 0;
  const onLine = (buf: Buffer, start: number, end: number): boolean => {
    // Counted, not kept: the text stays bytes unless `keep` looks at it.
    const line = parseStoredLine(buf, start, end, app, instance);
    if (line === undefined || line.seq > q.maxSeq) return true;
    if (q.from !== undefined && line.seq < q.from) return false;
    if (!q.keep(line)) return true;
    count++;
    if (q.nth !== undefined && count >= q.nth) {
      seq = line.seq;
      return false;
    }
    return true;
  };
  for (const path of paths) {
    let handle: fs.promises.FileHandle;
    try {
      handle = await fs.promises.open(path, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') break;
      throw err;
    }
    try {
      if (!(await readFileBackwards(handle, onLine))) break;
    } finally {
      await handle.close();
    }
  }
  return { count, seq };
}
