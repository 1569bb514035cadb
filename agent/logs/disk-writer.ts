/**
 * One instance's lines on their way to disk: encoded into chunks (pooled ones once it is busy),
 * written in batches (one write in flight, so lines reach the file in order) into its files
 * (log-files.ts: rotation, deletion, which ordinals each file holds).
 *
 * Every line written gets an ordinal (`n`, 1, 2, … in this agent run): files remember the
 * ordinals they hold, so a reader that fell behind learns exactly how many of its lines
 * rotation removed (`deletedThroughN`). See docs/logs.md.
 *
 * Pending bytes are bounded. What happens at the bound depends on the instance's mode:
 * non-blocking drops lines and writes a marker at the gap; blocking keeps them (up to a hard
 * cap) and reports `backlogged`, so the pipe reader stops reading and the process waits in
 * write(), as it would on a full terminal.
 *
 * The marker is a line of its own, made by the writer's owner when the gap ends (`onGapEnd`:
 * at the next write, or when a reader takes its place with endGap), with the next seq: it
 * stands after every line it counts, in the files, in memory and at live readers alike, so a
 * reader that resumes after any line gets it exactly once (docs/logs.md, Capture).
 */
import type { Logger } from '../../lib/log';
import type { LogLine } from './log-line';
import { encodeBytesInto, encodeInto, LINE_OVERHEAD } from './log-format';
import { LogFiles, type LogFile } from './log-files';

export { NO_LINES, newFile, type LogFile } from './log-files';
import type { GapCause, GapEnd } from './drop-marker';

/** The size of the pooled chunks pending lines are encoded into. */
export const FLUSH_BYTES = 64 * 1024;
/** Pending bytes that start a write at once, without waiting for the end of the turn or MIN_WRITE_GAP_MS. */
export const WRITE_AT_BYTES = 4 * FLUSH_BYTES;
/**
 * A busy writer starts a write at most this often (unless WRITE_AT_BYTES are pending): each
 * write costs the agent tens of µs whatever its size (the thread pool's hand-off and wake-ups;
 * more on a loaded machine), and a writer that wrote again at the end of every turn spent a
 * fifth of a busy agent's CPU on them. A quiet writer still writes at the end of the turn that
 * got its line. See docs/logs.md (Capture).
 */
export const MIN_WRITE_GAP_MS = 10;
/**
 * The chunk a quiet writer starts a batch with: most instances write a line now and then (and
 * the agent's own "Starting…"/"exited" lines come for 200 instances in one turn), and a pooled
 * 64 KiB chunk each was 12.5 MB of buffers at a scale of 200, freed into glibc's heap, which
 * keeps such memory (docs/stack-notes.md, "The agent's memory"). A writer whose last batch
 * filled more takes pooled chunks.
 */
const SMALL_CHUNK = 2 * 1024;
/**
 * A blocking instance's reader looks at `backlogged` after each pipe read (up to 64 KiB, or a
 * 16 KiB cut piece), so pending bytes may pass the bound by about that much. A reader that
 * ignores it is cut off at this many times the bound plus this slack: then it drops too.
 */
const BLOCKING_HARD_CAP = 4;
const BLOCKING_SLACK = 1024 * 1024;

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
  /**
   * No process type's log mode applies (InstanceLog.setBlocking was never called): a one-off
   * process (`run.N`), whose output goes to its terminal first and never waits for the disk.
   */
  oneOff = true;
  /** Ordinal of the newest line given one (written, pending or a drop marker). */
  lastN = 0;
  /** lastN when the last write started: the next batch holds the ordinals after it. */
  private startedN = 0;
  private readonly disk: LogFiles;
  /** Encoded lines waiting for the disk: full chunks, then the one being filled. */
  private full: Buffer[] = [];
  private chunk: Buffer | undefined;
  private chunkUsed = 0;
  private pendingBytes = 0;
  /** Bytes of the last batch started (its size decides the next batch's first chunk). */
  private lastBatchBytes = 0;
  /** Lines handed to the writer (written, pending or dropped; markers too), and how many of them are settled. */
  private appended = 0;
  private settled = 0;
  /** Lines dropped since the last marker (the open gap); 0 when none is open. */
  private dropped = 0;
  /** Why the open gap's lines were dropped, as it was when the gap opened. */
  private gapCause: GapCause = 'disk';
  private waiters: Array<{ target: number; resolve: () => void }> = [];
  private readonly log: Logger;
  /** Clock time the last write started, and the timer of a write put off until MIN_WRITE_GAP_MS after it. */
  private lastWriteAt = 0;
  private gapTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly shared: WriterShared,
    readonly app: string,
    readonly instance: string,
    readonly dir: string,
    files: LogFile[],
    appendToLast: boolean,
    private readonly onGapEnd: GapEnd,
  ) {
    this.log = shared.logger.child({ app, instance });
    this.disk = new LogFiles(shared, dir, files, appendToLast, this.log);
  }

  /** Oldest first; the last one is where writes go. */
  get files(): LogFile[] {
    return this.disk.files;
  }

  /** Every line with an ordinal up to this one was in a file that rotation deleted. */
  get deletedThroughN(): number {
    return this.disk.deletedThroughN;
  }

  /** The ordinal of this run's last line at or before `seq`, as far as the files tell (LogFiles.ordinalThrough). */
  ordinalThrough(seq: number): number {
    return this.disk.ordinalThrough(seq);
  }

  /** True when a blocking instance's reader should stop reading until pending bytes go down. */
  get backlogged(): boolean {
    return this.pendingBytes >= this.shared.maxPendingBytesPerInstance || this.shared.pendingBytes >= this.shared.maxPendingBytesTotal;
  }

  /** Paths of the files, newest first. */
  pathsNewestFirst(): string[] {
    return this.disk.pathsNewestFirst();
  }

  filePath(gen: number): string {
    return this.disk.filePath(gen);
  }

  /**
   * Queues a line for the disk; returns its ordinal, or 0 when it was dropped (non-blocking,
   * writes behind). The agent's own lines (`system`) are never dropped: they are few (starts,
   * exits), and the store ends an open gap before each (LogStore.append). Hot path.
   */
  enqueue(line: LogLine): number {
    this.appended++;
    const shared = this.shared;
    const cap = this.blocking ? BLOCKING_HARD_CAP : 1;
    const slack = this.blocking ? BLOCKING_SLACK : 0;
    if (
      line.stream !== 'system' &&
      (this.dropped > 0 ||
        this.pendingBytes >= shared.maxPendingBytesPerInstance * cap + slack ||
        shared.pendingBytes >= shared.maxPendingBytesTotal * cap + slack)
    ) {
      // The disk is not keeping up: keep memory bounded, count the gap. Once dropping, keep
      // dropping until the gap ends (its marker is queued), so the marker sits right after it.
      if (this.dropped === 0) this.gapCause = this.blocking ? 'disk' : this.oneOff ? 'one-off' : 'non-blocking';
      this.dropped++;
      shared.stats.diskDroppedLines++;
      this.schedule();
      return 0;
    }
    // Bytes are copied as they are; a UTF-16 code unit takes at most 3 bytes in UTF-8.
    const raw = line.raw;
    const room = (raw !== undefined ? line.rawEnd! - line.rawStart! : line.text.length * 3) + LINE_OVERHEAD;
    if (this.chunk === undefined || this.chunkUsed + room > this.chunk.length) this.nextChunk(room);
    const end =
      raw !== undefined
        ? encodeBytesInto(this.chunk as Buffer, this.chunkUsed, line.timeMs, line.seq, line.stream, line.cut, raw, line.rawStart!, line.rawEnd!)
        : encodeInto(this.chunk as Buffer, this.chunkUsed, line.timeMs, line.seq, line.stream, line.cut, line.text);
    const n = end - this.chunkUsed;
    this.chunkUsed = end;
    this.pendingBytes += n;
    shared.pendingBytes += n;
    // Before a kick: the batch it starts covers ordinals up to lastN.
    const ordinal = ++this.lastN;
    // At the pending bound (a small --log-write-buffer-kib) a blocking reader waits: no gap then.
    if (this.pendingBytes >= WRITE_AT_BYTES || this.backlogged) {
      if (!this.writing) this.kick();
    } else {
      this.schedule();
    }
    return ordinal;
  }

  /**
   * Has the pending lines written at the end of this turn, or MIN_WRITE_GAP_MS after the last
   * write started if that is later. A write in flight schedules the next itself when it ends.
   */
  private schedule(): void {
    if (this.dirty || this.writing || this.gapTimer !== undefined) return;
    const wait = this.lastWriteAt + MIN_WRITE_GAP_MS - Date.now();
    if (wait <= 0) this.shared.markDirty(this);
    else this.gapTimer = setTimeout(this.afterGap, wait);
  }

  private readonly afterGap = (): void => {
    this.gapTimer = undefined;
    this.kick();
  };

  /**
   * Ends the open gap, if any: its marker is queued now, with a seq below anything stored after
   * this call. A reader calls it before it takes its place (the newest seq), so the marker of
   * lines it cannot find in the files is within what it reads.
   */
  endGap(): void {
    if (this.dropped === 0) return;
    this.closeGap();
    this.schedule();
  }

  /**
   * Queues a gap's marker (from onGapEnd) at the end of the pending lines, whatever the bounds
   * (it is one short line); returns its ordinal.
   */
  queueMarker(line: LogLine): number {
    this.appended++;
    const room = line.text.length * 3 + LINE_OVERHEAD;
    if (this.chunk === undefined || this.chunkUsed + room > this.chunk.length) this.nextChunk(room);
    const end = encodeInto(this.chunk as Buffer, this.chunkUsed, line.timeMs, line.seq, line.stream, line.cut, line.text);
    const n = end - this.chunkUsed;
    this.chunkUsed = end;
    this.pendingBytes += n;
    this.shared.pendingBytes += n;
    return ++this.lastN;
  }

  private closeGap(): void {
    const count = this.dropped;
    this.dropped = 0;
    this.onGapEnd(count, this.gapCause);
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
    if (this.writing || (this.pendingBytes === 0 && this.dropped === 0)) return;
    if (this.gapTimer !== undefined) {
      clearTimeout(this.gapTimer);
      this.gapTimer = undefined;
    }
    // The gap ends with this write: its marker goes last in it, right after the lines before the gap.
    if (this.dropped > 0) this.closeGap();
    this.lastWriteAt = Date.now();
    const parts = this.full;
    if (this.chunk !== undefined) parts.push(this.chunk.subarray(0, this.chunkUsed));
    this.full = [];
    this.chunk = undefined;
    this.chunkUsed = 0;
    this.lastBatchBytes = this.pendingBytes;
    this.shared.pendingBytes -= this.pendingBytes;
    this.pendingBytes = 0;
    this.writing = true;
    let batch: Buffer;
    if (parts.length === 1) batch = parts[0]!;
    else {
      // One write call for the batch, gathered into a pooled buffer; the chunks go back at once.
      let total = 0;
      for (const part of parts) total += part.length;
      const into = this.shared.takeChunk(total);
      let off = 0;
      for (const part of parts) {
        off += part.copy(into, off);
        this.shared.releaseChunk(part);
      }
      batch = into.subarray(0, off);
    }
    const lines = this.lastN - this.startedN;
    this.startedN = this.lastN;
    // write() handles disk errors itself; a rejection here is a bug, logged.
    this.write(batch, this.appended, this.lastN, lines).catch((err: unknown) => this.log.error({ err }, 'bug: writing instance logs failed'));
  }

  /** The oldest file the store may delete to stay within its total, if any. */
  oldestDeletable(): LogFile | undefined {
    return this.disk.oldestDeletable(this.writing);
  }

  /** Deletes the oldest file (see oldestDeletable). */
  deleteOldest(): void {
    this.disk.deleteOldest();
  }

  /** The first file opens only once `ready` settles (LogFiles.openAfter). */
  openAfter(ready: Promise<void>): void {
    this.disk.openAfter(ready);
  }

  /** Calls `done` once the file deletions started so far have finished (LogFiles.afterDeletions). */
  afterDeletions(done: () => void): void {
    this.disk.afterDeletions(done);
  }

  /** Nothing pending, nothing in flight, no file open. */
  get idle(): boolean {
    return !this.writing && !this.disk.isOpen && this.pendingBytes === 0 && this.dropped === 0;
  }

  /** Gives the file handle back when nothing is pending. */
  closeIfIdle(): void {
    if (this.disk.isOpen && !this.writing && this.pendingBytes === 0 && this.dropped === 0) {
      // closeHandle() logs a failed close itself; a rejection here is a bug, logged.
      this.disk.closeHandle().catch((err: unknown) => this.log.error({ err }, 'bug: closing a log file failed'));
    }
  }

  /** Writes what is pending and closes the file. Never rejects. */
  async close(): Promise<void> {
    await this.flush();
    await this.disk.closeHandle();
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
  private async write(batch: Buffer, target: number, lastN: number, lines: number): Promise<void> {
    try {
      await this.disk.append(batch, lines);
      this.disk.recovered();
    } catch (err) {
      this.disk.fsError(err, 'cannot write instance logs to disk; the lines stay in memory and are lost from disk until it works again');
      await this.disk.closeHandle();
    } finally {
      // Back to the pool if it came from there (the pool keeps only its own sizes).
      this.shared.releaseChunk(batch);
      // Lines of a failed write are lost: the next file's ordinals go on after them.
      this.disk.nextWriteN = lastN + 1;
      this.writing = false;
      this.settled = target;
      this.settle();
      if (this.waiters.length > 0 || this.pendingBytes >= WRITE_AT_BYTES || this.backlogged) this.kick();
      else if (this.pendingBytes > 0 || this.dropped > 0) this.schedule();
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

}
