/**
 * One instance's files on disk: appends whole lines to the newest, rotates by size (each file
 * holds at most half the instance's bound), deletes the oldest, and remembers the ordinals each
 * file holds, so that a reader that fell behind learns exactly how many of its lines rotation
 * removed (`deletedThroughN`). The queue of lines waiting for the disk is disk-writer.ts's.
 * See docs/logs.md.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Logger } from '../../lib/log';
import { fileOfGen, seqOfFirstLine, seqOfLastLine } from './log-format';

const LF = 0x0a;
/** Files kept per instance at most, whatever their sizes (writes that failed can leave small ones). */
const MAX_FILES = 8;
/** Deleted files whose first line is remembered (ordinalThrough): 16 bytes each, ~32 GiB of one instance's lines at the default bound. */
const REMEMBERED_DELETIONS = 1_000;
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
  /** Ordinal and seq of the first line this run wrote into it (0: none; older lines may precede it). */
  firstN: number;
  firstSeq: number;
  /** Ordinal of the last line this run wrote into it (0: none). */
  lastN: number;
  /**
   * Where lines this run wrote start, about every MARK_BYTES, oldest first: a reader that
   * catches up from a seq starts reading at the last mark at or before it instead of at the top
   * of the file (chunk-reader.ts). Absent for files of earlier runs.
   */
  marks?: FileMark[];
}

/** A line this run wrote at the start of a write: its seq, its byte offset in the file, its ordinal. */
export interface FileMark {
  seq: number;
  offset: number;
  n: number;
}

/** A file gets a mark at the first write at least this many bytes after its previous mark. */
const MARK_BYTES = 64 * 1024;

/** The last mark of `file` whose line has a seq at or below `seq`: every line before it has a lower seq. */
export function markAtOrBefore(file: LogFile, seq: number): FileMark | undefined {
  const marks = file.marks;
  if (marks === undefined) return undefined;
  for (let i = marks.length - 1; i >= 0; i--) if (marks[i]!.seq <= seq) return marks[i];
  return undefined;
}

/** What the files of an instance share with their store. */
export interface FilesShared {
  readonly maxBytesPerInstance: number;
  readonly stats: { filesDeleted: number; bytesOnDisk: number; fsErrors: number };
  /** Deletes the oldest files of any instance while the store is over its total bound. */
  enforceTotal(): void;
}

export class LogFiles {
  /** Oldest first; the last one is where writes go. */
  readonly files: LogFile[];
  /** Every line with an ordinal up to this one was in a file that rotation deleted. */
  deletedThroughN = 0;
  /** The newest seq of those lines (0: none deleted). */
  private deletedThroughSeq = 0;
  /** Where the last few files rotation deleted began (firstSeq, firstN), oldest first: see ordinalThrough. */
  private readonly deletedStarts: Array<{ seq: number; n: number }> = [];
  /** Ordinal of the next line to reach a file (lines are written in ordinal order). */
  nextWriteN = 1;
  private nextGen: number;
  private handle: fs.promises.FileHandle | undefined;
  /** Whether the newest file may be continued (it ends with a whole line). */
  private appendToLast: boolean;
  private lastErrorCode: string | undefined;
  /** File deletions in flight, and what waits for them (removing the directory: afterDeletions). */
  private unlinking = 0;
  private unlinked: Array<() => void> = [];
  /** What the first open waits for (openAfter). */
  private ready: Promise<void> | undefined;

  constructor(
    private readonly shared: FilesShared,
    readonly dir: string,
    files: LogFile[],
    appendToLast: boolean,
    private readonly log: Logger,
  ) {
    this.files = files;
    this.nextGen = files.length > 0 ? files[files.length - 1]!.gen + 1 : 1;
    this.appendToLast = appendToLast;
  }

  /** A file is open for writing. */
  get isOpen(): boolean {
    return this.handle !== undefined;
  }

  filePath(gen: number): string {
    return path.join(this.dir, fileOfGen(gen));
  }

  /** Paths of the files, newest first. */
  pathsNewestFirst(): string[] {
    const out: string[] = [];
    for (let i = this.files.length - 1; i >= 0; i--) out.push(this.filePath(this.files[i]!.gen));
    return out;
  }

  /** The oldest file the store may delete to stay within its total, if any (`writing`: a write is in flight). */
  oldestDeletable(writing: boolean): LogFile | undefined {
    if (this.files.length > 1) return this.files[0];
    // The file being written stays; an idle instance's only file may go.
    if (this.files.length === 1 && !writing && this.handle === undefined) return this.files[0];
    return undefined;
  }

  /** Deletes the oldest file (see oldestDeletable). */
  deleteOldest(): void {
    const file = this.files.shift();
    if (file !== undefined) this.deleteFile(file);
  }

  /**
   * The ordinal of this run's last line at or before `seq`, as far as the files tell: exact when
   * `seq` is at the end of a file or between files, else the mark at or before it (the lines
   * since that mark are not counted). A reader that goes on after `seq` (a follow resumed after a
   * control-plane failover) starts its count of lines rotation took from here. When the file that
   * held `seq` is gone too, the count starts at that file's first line (or at the run's first
   * line, when even that is forgotten): it may then include lines the reader had.
   */
  ordinalThrough(seq: number): number {
    let n = 0;
    for (const f of this.files) {
      if (f.firstN === 0 || f.firstSeq > seq) continue;
      n = Math.max(n, f.lastSeq <= seq ? f.lastN : markAtOrBefore(f, seq)?.n ?? f.firstN);
    }
    if (n > 0 || this.deletedThroughN === 0) return n;
    if (seq >= this.deletedThroughSeq) return this.deletedThroughN;
    for (let i = this.deletedStarts.length - 1; i >= 0; i--) {
      const start = this.deletedStarts[i]!;
      if (start.seq <= seq) return start.n;
    }
    return 0;
  }

  /** Writing works again after a failure: say so once. */
  recovered(): void {
    if (this.lastErrorCode === undefined) return;
    this.lastErrorCode = undefined;
    this.log.info('writing instance logs to disk works again');
  }

  /**
   * Appends whole lines to the newest file, rotating so each file stays within half the
   * instance bound. `lines`: how many buf holds, when the caller knows (else they are counted).
   */
  async append(buf: Buffer, lines?: number): Promise<void> {
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
      await this.writeRange(file, buf, off, end, off === 0 && end === buf.length ? lines : undefined);
      off = end;
    }
  }

  private async writeRange(file: LogFile, buf: Buffer, start: number, end: number, knownLines?: number): Promise<void> {
    const handle = this.handle as fs.promises.FileHandle;
    let off = start;
    const fileOffset = file.bytes;
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
        const lines = knownLines !== undefined && off === end ? knownLines : countLines(buf, start, off);
        if (lines > 0) {
          const firstSeq = seqOfFirstLine(buf, start, off);
          if (file.firstN === 0) {
            file.firstN = this.nextWriteN;
            file.firstSeq = firstSeq ?? 0;
          }
          const marks = (file.marks ??= []);
          const last = marks[marks.length - 1];
          if (firstSeq !== undefined && (last === undefined || fileOffset - last.offset >= MARK_BYTES)) {
            marks.push({ seq: firstSeq, offset: fileOffset, n: this.nextWriteN });
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
    if (this.ready !== undefined) {
      await this.ready;
      this.ready = undefined;
    }
    let file = this.files[this.files.length - 1];
    if (file === undefined || !this.appendToLast) {
      file = newFile(this.nextGen++);
      this.files.push(file);
      this.appendToLast = true;
      this.trimOlder();
    }
    const p = this.filePath(file.gen);
    for (let attempt = 1; ; attempt++) {
      try {
        this.handle = await fs.promises.open(p, 'a', 0o600);
        return file;
      } catch (err) {
        if (!isNotFound(err) || attempt === 3) throw err;
      }
      // The directory is gone (first line, or someone deleted it): make it again. The clean-up of
      // the app's last other instance can remove the app's directory meanwhile: then once more.
      try {
        await fs.promises.mkdir(this.dir, { recursive: true, mode: 0o700 });
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
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
    if (file.lastN > this.deletedThroughN) {
      this.deletedThroughN = file.lastN;
      this.deletedThroughSeq = file.lastSeq;
      this.deletedStarts.push({ seq: file.firstSeq, n: file.firstN });
      if (this.deletedStarts.length > REMEMBERED_DELETIONS) this.deletedStarts.shift();
    }
    const p = this.filePath(file.gen);
    this.unlinking++;
    fs.unlink(p, (err) => {
      if (err && err.code !== 'ENOENT') this.fsError(err, 'cannot delete an old log file; the disk may fill up');
      if (--this.unlinking === 0) for (const done of this.unlinked.splice(0)) done();
    });
  }

  /**
   * Opens no file before `ready` settles (it must not reject): the clean-up of an earlier
   * instance in the same directory (InstanceTable.cleanupOf).
   */
  openAfter(ready: Promise<void>): void {
    this.ready = ready;
  }

  /**
   * Calls `done` once every file deletion started so far has finished: unlinks run on libuv's
   * thread pool, and an rmdir of the directory started beside them can run first and find it
   * not empty (the directory then stayed for good).
   */
  afterDeletions(done: () => void): void {
    if (this.unlinking === 0) done();
    else this.unlinked.push(done);
  }

  /** Closes the open file, if any; a failure is logged. Never rejects. */
  async closeHandle(): Promise<void> {
    const handle = this.handle;
    this.handle = undefined;
    if (handle === undefined) return;
    try {
      await handle.close();
    } catch (err) {
      this.fsError(err, 'cannot close a log file');
    }
  }

  /** Counts a failed file operation and logs it once per kind of failure. */
  fsError(err: unknown, msg: string): void {
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

function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'ENOENT';
}
