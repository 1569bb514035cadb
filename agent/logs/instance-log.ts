/**
 * One instance's lines: an in-memory tail, the live readers that follow it, and its files
 * on disk, written in batches with bounded pending memory and rotated by size.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Logger } from '../../lib/log';
import type { LogLine } from './log-line';
import { encodeInto, encodeLine, fileOfGen, LINE_OVERHEAD, seqOfLastLine } from './log-format';
import type { QueuedCursor } from './live-cursor';
import { LineRing } from './ring';

const LF = 0x0a;
/** Pending bytes that start a write at once rather than at the next flush tick; also the chunk size. */
export const FLUSH_BYTES = 64 * 1024;
/** Files kept per instance at most, whatever their sizes (writes that failed can leave small ones). */
const MAX_FILES = 8;
/** lastSeq of a file with no line yet: it looks newest, so it is deleted last. */
export const NO_LINES = Number.MAX_SAFE_INTEGER;

/** One file of an instance: `<gen>.log`. */
export interface LogFile {
  gen: number;
  bytes: number;
  /**
   * Seq of its newest line: how old its data is, comparable across instances and restarts.
   * The store deletes the file with the oldest data first.
   */
  lastSeq: number;
}

/** Counters a store keeps about itself (see LogStore.stats). */
export interface LogStoreStats {
  /** Lines appended since open. */
  lines: number;
  /** Lines kept in memory but not written to disk because writes fell behind (a marker line says where). */
  diskDroppedLines: number;
  /** Failed file-system operations (write, open, delete, read). */
  fsErrors: number;
  /** Files deleted to stay within the size bounds. */
  filesDeleted: number;
  /** Bytes in all log files. */
  bytesOnDisk: number;
}

/** What instances share with their store: bounds, counters, and store-wide decisions. */
export interface StoreShared {
  readonly maxBytesPerInstance: number;
  readonly memoryLinesPerInstance: number;
  readonly memoryCharsPerInstance: number;
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
  /** Queues an instance for the next flush tick. */
  markDirty(inst: InstanceLog): void;
  /** Deletes the oldest files of any instance while the store is over its total bound. */
  enforceTotal(): void;
}

export class InstanceLog {
  /** Time of the newest line; a new line never gets an earlier one. */
  lastTime = 0;
  /** Clock time of the newest line (for idle clean-up). */
  lastActiveMs = 0;
  /** Live readers whose filter matches this instance. */
  cursors: QueuedCursor[] = [];
  /** True while `tail` holds every line this instance ever had (no evictions, nothing older on disk). */
  tailComplete: boolean;
  /** In the store's dirty list. */
  dirty = false;
  /** A write is in flight (one at a time, so lines reach the file in order). */
  writing = false;

  readonly tail: LineRing;
  /** Oldest first; the last one is where writes go. */
  readonly files: LogFile[];
  private nextGen: number;
  private handle: fs.promises.FileHandle | undefined;
  /** Whether the newest file may be continued (it ends with a whole line). */
  private appendToLast: boolean;
  /** Encoded lines waiting for the disk: full chunks, then the one being filled. */
  private full: Buffer[] = [];
  private chunk: Buffer | undefined;
  private chunkUsed = 0;
  private pendingBytes = 0;
  /** Lines handed to the disk side (written, pending or dropped), and how many of them are settled. */
  private appended = 0;
  private settled = 0;
  /** Lines not written because writes fell behind: the first one's place and how many. */
  private drop: { timeMs: number; seq: number; count: number } | undefined;
  private waiters: Array<{ target: number; resolve: () => void }> = [];
  private lastErrorCode: string | undefined;
  private readonly log: Logger;

  constructor(
    private readonly shared: StoreShared,
    readonly app: string,
    readonly instance: string,
    readonly dir: string,
    files: LogFile[],
    appendToLast: boolean,
  ) {
    this.tail = new LineRing(shared.memoryLinesPerInstance);
    this.files = files;
    this.nextGen = files.length > 0 ? files[files.length - 1]!.gen + 1 : 1;
    this.appendToLast = appendToLast;
    this.tailComplete = files.every((f) => f.bytes === 0);
    this.log = shared.logger.child({ app, instance });
  }

  /** Takes a new line: memory tail, live readers, disk. Hot path: no promises, no timers. */
  add(line: LogLine): void {
    const tail = this.tail;
    if (tail.push(line) !== undefined) this.tailComplete = false;
    while (tail.chars > this.shared.memoryCharsPerInstance && tail.length > 1) {
      tail.shift();
      this.tailComplete = false;
    }
    const cursors = this.cursors;
    for (let i = 0; i < cursors.length; i++) cursors[i]!.push(line);
    this.enqueue(line);
  }

  /** Lines this instance holds in memory that answer "the last `limit` lines", or undefined when the disk must. */
  fromMemory(limit: number): LogLine[] | undefined {
    if (this.tail.length >= limit || this.tailComplete) return this.tail.last(limit);
    return undefined;
  }

  /** Paths of the files, newest first. */
  pathsNewestFirst(): string[] {
    const out: string[] = [];
    for (let i = this.files.length - 1; i >= 0; i--) out.push(this.filePath(this.files[i]!.gen));
    return out;
  }

  /** Resolves when every line added so far is written (or known lost). */
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
    this.shared.pendingBytes -= this.pendingBytes;
    this.pendingBytes = 0;
    if (this.drop !== undefined) {
      // At the gap, in file order and with the first missing line's place.
      const { timeMs, seq, count } = this.drop;
      parts.push(Buffer.from(encodeLine(timeMs, seq, 'system', false, `${count} line${count === 1 ? '' : 's'} not written to disk (disk too slow)`)));
      this.drop = undefined;
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
    this.write(batch, parts.length === 1, this.appended).catch((err: unknown) => this.log.error({ err }, 'bug: writing instance logs failed'));
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

  /** True when nothing of this instance is left anywhere: the store can forget it. */
  isEmpty(): boolean {
    return this.files.length === 0 && this.tail.length === 0 && this.cursors.length === 0 && !this.writing && this.handle === undefined && this.pendingBytes === 0 && this.drop === undefined;
  }

  /** Frees what an idle instance holds: its open file, and after a longer while its memory tail. */
  sweep(now: number, closeFileAfterMs: number, dropTailAfterMs: number): void {
    const idle = now - this.lastActiveMs;
    if (idle > closeFileAfterMs && this.handle !== undefined && !this.writing && this.pendingBytes === 0 && this.drop === undefined) {
      // closeHandle() never rejects (a failed close is counted and logged there).
      this.closeHandle().catch((err: unknown) => this.log.error({ err }, 'bug: closing a log file failed'));
    }
    if (idle > dropTailAfterMs && this.tail.length > 0 && this.cursors.length === 0) {
      this.tail.clear();
      this.tailComplete = false;
    }
  }

  /** Writes what is pending and closes the file. Never rejects. */
  async close(): Promise<void> {
    await this.flush();
    await this.closeHandle();
  }

  private enqueue(line: LogLine): void {
    this.appended++;
    const shared = this.shared;
    if (this.drop !== undefined || this.pendingBytes >= shared.maxPendingBytesPerInstance || shared.pendingBytes >= shared.maxPendingBytesTotal) {
      // The disk is not keeping up: keep memory bounded, remember the gap. Once dropping,
      // keep dropping until the marker is queued, so the marker sits exactly at the gap.
      if (this.drop === undefined) this.drop = { timeMs: line.timeMs, seq: line.seq, count: 1 };
      else this.drop.count++;
      shared.stats.diskDroppedLines++;
      if (!this.dirty && !this.writing) shared.markDirty(this);
      return;
    }
    // A UTF-16 code unit takes at most 3 bytes in UTF-8.
    const room = line.text.length * 3 + LINE_OVERHEAD;
    if (this.chunk === undefined || this.chunkUsed + room > this.chunk.length) this.nextChunk(room);
    const end = encodeInto(this.chunk as Buffer, this.chunkUsed, line.timeMs, line.seq, line.stream, line.cut, line.text);
    const n = end - this.chunkUsed;
    this.chunkUsed = end;
    this.pendingBytes += n;
    shared.pendingBytes += n;
    if (this.pendingBytes >= FLUSH_BYTES) {
      if (!this.writing) this.kick();
    } else if (!this.dirty) {
      shared.markDirty(this);
    }
  }

  private nextChunk(min: number): void {
    if (this.chunk !== undefined) {
      if (this.chunkUsed > 0) this.full.push(this.chunk.subarray(0, this.chunkUsed));
      else this.shared.releaseChunk(this.chunk);
    }
    this.chunk = this.shared.takeChunk(min);
    this.chunkUsed = 0;
  }

  /** One batch to disk; settles its lines whatever happens. */
  private async write(batch: Buffer, pooled: boolean, target: number): Promise<void> {
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
      this.writing = false;
      this.settled = target;
      this.settle();
      if (this.waiters.length > 0 || this.pendingBytes >= FLUSH_BYTES) this.kick();
      else if ((this.pendingBytes > 0 || this.drop !== undefined) && !this.dirty) this.shared.markDirty(this);
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
      file = { gen: this.nextGen++, bytes: 0, lastSeq: NO_LINES };
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
    this.files.push({ gen: this.nextGen++, bytes: 0, lastSeq: NO_LINES });
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

  private filePath(gen: number): string {
    return path.join(this.dir, fileOfGen(gen));
  }
}
