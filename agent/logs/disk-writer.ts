/**
 * One instance's files on disk: lines encoded into pooled chunks, written in batches (one
 * write in flight, so lines reach the file in order), rotated by size, oldest deleted first.
 *
 * Every line written gets an ordinal (`n`, 1, 2, … in this agent run): files remember the
 * ordinals they hold, so a reader that fell behind learns exactly how many of its lines
 * rotation removed (`deletedThroughN`). See docs/logs.md.
 *
 * Pending bytes are bounded. What happens at the bound depends on the instance's mode:
 * non-blocking drops lines and writes a marker at the gap; blocking keeps them (up to a hard
 * cap) and reports `backlogged`, so the pipe reader stops reading and the process waits in
 * write(), as it would on a full terminal.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Logger } from '../../lib/log';
import type { LogLine } from './log-line';
import { encodeInto, encodeLine, fileOfGen, LINE_OVERHEAD, seqOfFirstLine, seqOfLastLine } from './log-format';

const LF = 0x0a;
/** Pending bytes that start a write at once rather than at the end of the turn; also the chunk size. */
export const FLUSH_BYTES = 64 * 1024;
/**
 * The chunk a quiet writer starts a batch with: most instances write a line now and then (and
 * the agent's own "Starting…"/"exited" lines come for 200 instances in one turn), and a pooled
 * 64 KiB chunk each was 12.5 MB of buffers at a scale of 200, freed into glibc's heap, which
 * keeps such memory (docs/stack-notes.md, "The agent's memory"). A writer whose last batch
 * filled more takes pooled chunks.
 */
const SMALL_CHUNK = 2 * 1024;
/** Files kept per instance at most, whatever their sizes (writes that failed can leave small ones). */
const MAX_FILES = 8;
/** lastSeq of a file with no line yet: it looks newest, so it is deleted last. */
export const NO_LINES = Number.MAX_SAFE_INTEGER;
/**
 * A blocking instance's reader looks at `backlogged` after each pipe read (up to 64 KiB, or a
 * 16 KiB cut piece), so pending bytes may pass the bound by about that much. A reader that
 * ignores it is cut off at this many times the bound plus this slack: then it drops too.
 */
const BLOCKING_HARD_CAP = 4;
const BLOCKING_SLACK = 1024 * 1024;

/** One file of an instance: `<gen>.log`. */
export interface LogFile {
  gen: number;
  bytes: number;
  /**
   * Seq of its newest line: how old its data is, comparable across instances and restarts.
   * The store deletes the file with the oldest data first.
   */
  lastSeq: number;
  /** Ordinal and seq of the first line this run wrote into it (0: none; older lines may precede it). */
  firstN: number;
  firstSeq: number;
  /** Ordinal of the last line this run wrote into it (0: none). */
  lastN: number;
}

/** Counters a store keeps about itself (see LogStore.stats). */
export interface LogStoreStats {
  /** Lines appended since open. */
  lines: number;
  /** Lines kept in memory but not written to disk because writes fell behind (non-blocking instances; a marker line says where). */
  diskDroppedLines: number;
  /** Failed file-system operations (write, open, delete, read). */
  fsErrors: number;
  /** Files deleted to stay within the size bounds. */
  filesDeleted: number;
  /** Bytes in all log files. */
  bytesOnDisk: number;
}

/** What writers share with their store: bounds, counters, and store-wide decisions. */
export interface WriterShared {
  readonly maxBytesPerInstance: number;
  readonly maxPendingBytesPerInstance: number;
  readonly maxPendingBytesTotal: number;
  readonly logger: Logger;
  readonly stats: LogStoreStats;
  /** Bytes waiting to be written, all instances. */
  pendingBytes: number;
  /** A chunk of at least `min` bytes for pending lines (reused when it can be). */
  takeChunk(min: number): Buffer;
  /** Gives back a chunk whose bytes are no longer needed. */
  releaseChunk(chunk: Buffer): void;
  /** Queues a writer for the end of this event-loop turn. */
  markDirty(writer: DiskWriter): void;
  /** Deletes the oldest files of any instance while the store is over its total bound. */
  enforceTotal(): void;
  /** A write ended: pending bytes went down (blocked readers may go on). */
  wrote(): void;
}

export class DiskWriter {
  /** In the store's dirty list. */
  dirty = false;
  /** A write is in flight (one at a time, so lines reach the file in order). */
  writing = false;
  /** Blocking mode: never drop below the hard cap; the reader is told to wait instead. */
  blocking = false;
  /** Oldest first; the last one is where writes go. */
  readonly files: LogFile[];
  /** Ordinal of the newest line given one (written, pending or a drop marker). */
  lastN = 0;
  /** Every line with an ordinal up to this one was in a file that rotation deleted. */
  deletedThroughN = 0;
  private nextGen: number;
  private handle: fs.promises.FileHandle | undefined;
  /** Whether the newest file may be continued (it ends with a whole line). */
  private appendToLast: boolean;
  /** Encoded lines waiting for the disk: full chunks, then the one being filled. */
  private full: Buffer[] = [];
  private chunk: Buffer | undefined;
  private chunkUsed = 0;
  private pendingBytes = 0;
  /** Bytes of the last batch started (its size decides the next batch's first chunk). */
  private lastBatchBytes = 0;
  /** Ordinal of the next line to reach a file (lines are written in ordinal order). */
  private nextWriteN = 1;
  /** Lines handed to the writer (written, pending or dropped), and how many of them are settled. */
  private appended = 0;
  private settled = 0;
  /** Lines not written because writes fell behind: the first one's place and how many. */
  private drop: { timeMs: number; seq: number; count: number } | undefined;
  private waiters: Array<{ target: number; resolve: () => void }> = [];
  private lastErrorCode: string | undefined;
  private readonly log: Logger;

  constructor(
    private readonly shared: WriterShared,
    readonly app: string,
    readonly instance: string,
    readonly dir: string,
    files: LogFile[],
    appendToLast: boolean,
  ) {
    this.files = files;
    this.nextGen = files.length > 0 ? files[files.length - 1]!.gen + 1 : 1;
    this.appendToLast = appendToLast;
    this.log = shared.logger.child({ app, instance });
  }

  /** True when a blocking instance's reader should stop reading until pending bytes go down. */
  get backlogged(): boolean {
    return this.pendingBytes >= this.shared.maxPendingBytesPerInstance || this.shared.pendingBytes >= this.shared.maxPendingBytesTotal;
  }

  /** Paths of the files, newest first. */
  pathsNewestFirst(): string[] {
    const out: string[] = [];
    for (let i = this.files.length - 1; i >= 0; i--) out.push(this.filePath(this.files[i]!.gen));
    return out;
  }

  filePath(gen: number): string {
    return path.join(this.dir, fileOfGen(gen));
  }

  /** Queues a line for the disk; returns its ordinal, or 0 when it was dropped (non-blocking, writes behind). Hot path. */
  enqueue(line: LogLine): number {
    this.appended++;
    const shared = this.shared;
    const cap = this.blocking ? BLOCKING_HARD_CAP : 1;
    const slack = this.blocking ? BLOCKING_SLACK : 0;
    if (
      this.drop !== undefined ||
      this.pendingBytes >= shared.maxPendingBytesPerInstance * cap + slack ||
      shared.pendingBytes >= shared.maxPendingBytesTotal * cap + slack
    ) {
      // The disk is not keeping up: keep memory bounded, remember the gap. Once dropping,
      // keep dropping until the marker is queued, so the marker sits exactly at the gap.
      if (this.drop === undefined) this.drop = { timeMs: line.timeMs, seq: line.seq, count: 1 };
      else this.drop.count++;
      shared.stats.diskDroppedLines++;
      if (!this.dirty && !this.writing) shared.markDirty(this);
      return 0;
    }
    // A UTF-16 code unit takes at most 3 bytes in UTF-8.
    const room = line.text.length * 3 + LINE_OVERHEAD;
    if (this.chunk === undefined || this.chunkUsed + room > this.chunk.length) this.nextChunk(room);
    const end = encodeInto(this.chunk as Buffer, this.chunkUsed, line.timeMs, line.seq, line.stream, line.cut, line.text);
    const n = end - this.chunkUsed;
    this.chunkUsed = end;
    this.pendingBytes += n;
    shared.pendingBytes += n;
    // Before a kick: the batch it starts covers ordinals up to lastN.
    const ordinal = ++this.lastN;
    if (this.pendingBytes >= FLUSH_BYTES) {
      if (!this.writing) this.kick();
    } else if (!this.dirty) {
      shared.markDirty(this);
    }
    return ordinal;
  }

  /** Resolves when every line queued so far is written (or known lost). */
  flush(): Promise<void> {
    const target = this.appended;
    if (this.settled >= target) return Promise.resolve();
    const done = new Promise<void>((resolve) => this.waiters.push({ target, resolve }));
    this.kick();
    return done;
  }

  /** Starts a write of the pending lines unless one is in flight. */
  kick(): void {
    if (this.writing || (this.pendingBytes === 0 && this.drop === undefined)) return;
    const parts = this.full;
    if (this.chunk !== undefined) parts.push(this.chunk.subarray(0, this.chunkUsed));
    this.full = [];
    this.chunk = undefined;
    this.chunkUsed = 0;
    this.lastBatchBytes = this.pendingBytes;
    this.shared.pendingBytes -= this.pendingBytes;
    this.pendingBytes = 0;
    if (this.drop !== undefined) {
      // At the gap, in file order and with the first missing line's place.
      const { timeMs, seq, count } = this.drop;
      parts.push(Buffer.from(encodeLine(timeMs, seq, 'system', false, `${count} line${count === 1 ? '' : 's'} not written to disk (disk too slow)`)));
      this.drop = undefined;
      this.lastN++;
    }
    this.writing = true;
    let batch: Buffer;
    if (parts.length === 1) batch = parts[0]!;
    else {
      // One write call for the batch; the chunks go back to the pool at once.
      batch = Buffer.concat(parts);
      for (const part of parts) this.shared.releaseChunk(part);
    }
    // write() handles disk errors itself; a rejection here is a bug, logged.
    this.write(batch, parts.length === 1, this.appended, this.lastN).catch((err: unknown) => this.log.error({ err }, 'bug: writing instance logs failed'));
  }

  /** The oldest file the store may delete to stay within its total, if any. */
  oldestDeletable(): LogFile | undefined {
    if (this.files.length > 1) return this.files[0];
    // The file being written stays; an idle instance's only file may go.
    if (this.files.length === 1 && !this.writing && this.handle === undefined) return this.files[0];
    return undefined;
  }

  /** Deletes the oldest file (see oldestDeletable). */
  deleteOldest(): void {
    const file = this.files.shift();
    if (file !== undefined) this.deleteFile(file);
  }

  /** Nothing pending, nothing in flight, no file open. */
  get idle(): boolean {
    return !this.writing && this.handle === undefined && this.pendingBytes === 0 && this.drop === undefined;
  }

  /** Gives the file handle back when nothing is pending. */
  closeIfIdle(): void {
    if (this.handle !== undefined && !this.writing && this.pendingBytes === 0 && this.drop === undefined) {
      // closeHandle() logs a failed close itself; a rejection here is a bug, logged.
      this.closeHandle().catch((err: unknown) => this.log.error({ err }, 'bug: closing a log file failed'));
    }
  }

  /** Writes what is pending and closes the file. Never rejects. */
  async close(): Promise<void> {
    await this.flush();
    await this.closeHandle();
  }

  private nextChunk(min: number): void {
    if (this.chunk !== undefined) {
      if (this.chunkUsed > 0) this.full.push(this.chunk.subarray(0, this.chunkUsed));
      else this.shared.releaseChunk(this.chunk);
    }
    const quiet = this.full.length === 0 && this.lastBatchBytes < SMALL_CHUNK && min <= SMALL_CHUNK;
    this.chunk = quiet ? Buffer.allocUnsafeSlow(SMALL_CHUNK) : this.shared.takeChunk(min);
    this.chunkUsed = 0;
  }

  /** One batch to disk; settles its lines whatever happens. */
  private async write(batch: Buffer, pooled: boolean, target: number, lastN: number): Promise<void> {
    try {
      await this.writeBuffer(batch);
      if (this.lastErrorCode !== undefined) {
        this.lastErrorCode = undefined;
        this.log.info('writing instance logs to disk works again');
      }
    } catch (err) {
      this.fsError(err, 'cannot write instance logs to disk; the lines stay in memory and are lost from disk until it works again');
      await this.closeHandle();
    } finally {
      if (pooled) this.shared.releaseChunk(batch);
      // Lines of a failed write are lost: the next file's ordinals go on after them.
      this.nextWriteN = lastN + 1;
      this.writing = false;
      this.settled = target;
      this.settle();
      if (this.waiters.length > 0 || this.pendingBytes >= FLUSH_BYTES) this.kick();
      else if ((this.pendingBytes > 0 || this.drop !== undefined) && !this.dirty) this.shared.markDirty(this);
      this.shared.wrote();
    }
  }

  private settle(): void {
    if (this.waiters.length === 0) return;
    const still: typeof this.waiters = [];
    for (const w of this.waiters) {
      if (w.target <= this.settled) w.resolve();
      else still.push(w);
    }
    this.waiters = still;
  }

  /** Appends whole lines to the newest file, rotating so each file stays within half the instance bound. */
  private async writeBuffer(buf: Buffer): Promise<void> {
    const half = Math.max(1, Math.floor(this.shared.maxBytesPerInstance / 2));
    let off = 0;
    while (off < buf.length) {
      const file = await this.ensureOpen();
      const rest = buf.length - off;
      if (file.bytes > 0 && file.bytes + rest > half) {
        // Fill the file with the whole lines that fit, then start the next one.
        const room = half - file.bytes;
        const nl = room > 0 ? buf.lastIndexOf(LF, off + room - 1) : -1;
        if (nl >= off) {
          await this.writeRange(file, buf, off, nl + 1);
          off = nl + 1;
        }
        await this.rotate();
        continue;
      }
      let end = buf.length;
      if (rest > half) {
        // A fresh file and more than fits: as many whole lines as fit (at least one).
        let nl = buf.lastIndexOf(LF, off + half - 1);
        if (nl < off) nl = buf.indexOf(LF, off + half);
        end = nl === -1 ? buf.length : nl + 1;
      }
      await this.writeRange(file, buf, off, end);
      off = end;
    }
  }

  private async writeRange(file: LogFile, buf: Buffer, start: number, end: number): Promise<void> {
    const handle = this.handle as fs.promises.FileHandle;
    let off = start;
    try {
      while (off < end) {
        const { bytesWritten } = await handle.write(buf, off, end - off, null);
        off += bytesWritten;
        file.bytes += bytesWritten;
        this.shared.stats.bytesOnDisk += bytesWritten;
      }
    } finally {
      if (off > start) {
        const seq = seqOfLastLine(buf, start, off);
        if (seq !== undefined) file.lastSeq = seq;
        const lines = countLines(buf, start, off);
        if (lines > 0) {
          if (file.firstN === 0) {
            file.firstN = this.nextWriteN;
            file.firstSeq = seqOfFirstLine(buf, start, off) ?? 0;
          }
          this.nextWriteN += lines;
          file.lastN = this.nextWriteN - 1;
        }
      }
      // Part of a batch went in: the file may end inside a line, so never continue it.
      if (off > start && off < end) this.appendToLast = false;
    }
    this.shared.enforceTotal();
  }

  private async ensureOpen(): Promise<LogFile> {
    if (this.handle !== undefined) return this.files[this.files.length - 1]!;
    let file = this.files[this.files.length - 1];
    if (file === undefined || !this.appendToLast) {
      file = newFile(this.nextGen++);
      this.files.push(file);
      this.appendToLast = true;
      this.trimOlder();
    }
    const p = this.filePath(file.gen);
    try {
      this.handle = await fs.promises.open(p, 'a', 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      // The directory is gone (first line, or someone deleted it): make it again.
      await fs.promises.mkdir(this.dir, { recursive: true, mode: 0o700 });
      this.handle = await fs.promises.open(p, 'a', 0o600);
    }
    return file;
  }

  private async rotate(): Promise<void> {
    await this.closeHandle();
    this.files.push(newFile(this.nextGen++));
    this.appendToLast = true;
    this.trimOlder();
    this.shared.enforceTotal();
  }

  /** Deletes older files while what they hold plus a full newest file would pass the bound. */
  private trimOlder(): void {
    const half = Math.floor(this.shared.maxBytesPerInstance / 2);
    let older = 0;
    for (let i = 0; i < this.files.length - 1; i++) older += this.files[i]!.bytes;
    while (this.files.length > 1 && (older > this.shared.maxBytesPerInstance - half || this.files.length > MAX_FILES)) {
      const file = this.files.shift() as LogFile;
      older -= file.bytes;
      this.deleteFile(file);
    }
  }

  private deleteFile(file: LogFile): void {
    this.shared.stats.bytesOnDisk -= file.bytes;
    this.shared.stats.filesDeleted++;
    if (file.lastN > this.deletedThroughN) this.deletedThroughN = file.lastN;
    const p = this.filePath(file.gen);
    fs.unlink(p, (err) => {
      if (err && err.code !== 'ENOENT') this.fsError(err, 'cannot delete an old log file; the disk may fill up');
    });
  }

  private async closeHandle(): Promise<void> {
    const handle = this.handle;
    this.handle = undefined;
    if (handle === undefined) return;
    try {
      await handle.close();
    } catch (err) {
      this.fsError(err, 'cannot close a log file');
    }
  }

  private fsError(err: unknown, msg: string): void {
    this.shared.stats.fsErrors++;
    // One message per kind of failure, not one per batch: a full disk would flood our own log.
    const code = (err as NodeJS.ErrnoException).code ?? 'EUNKNOWN';
    if (code === this.lastErrorCode) return;
    this.lastErrorCode = code;
    this.log.error({ err }, msg);
  }
}

/** A file this run is about to start. */
export function newFile(gen: number): LogFile {
  return { gen, bytes: 0, lastSeq: NO_LINES, firstN: 0, firstSeq: 0, lastN: 0 };
}

/** Newlines in buf[start, end). */
function countLines(buf: Buffer, start: number, end: number): number {
  let n = 0;
  for (let i = buf.indexOf(LF, start); i !== -1 && i < end; i = buf.indexOf(LF, i + 1)) n++;
  return n;
}
