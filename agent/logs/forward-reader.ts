/**
 * Reads one instance's files forward, oldest first, from just after a seq up to a seq, a chunk
 * at a time (constant memory whatever the files hold). A reader that fell behind the live feed
 * continues here, and `cluster logs -n all` streams from here.
 *
 * At its first read (after the caller flushed every line up to maxSeq to the files) the reader
 * opens every file that holds lines it wants, so rotation cannot take them away while it reads:
 * a deleted file stays readable through its open handle (the disk space comes back when the
 * reader closes it). Lines rotation deleted before that are reported once, exactly counted from
 * the ordinals the files carry (disk-writer.ts), as one `system` line at the gap. A reader made
 * with `eager: false` (many instances at once: one handle each is enough) opens one file at a
 * time instead and may meet more than one gap.
 *
 * The lines of a chunk are only indexed (where each starts, its seq and ordinal), not made into
 * objects: a follower that takes them packed (packHead) gets the file's bytes copied into its
 * batch as they are (the file's `time \t seq \t code \t` is the packed form's, lib/log-packing.ts),
 * and the chunk's buffer is read into again. A line is made an object (take) only for readers
 * that want objects.
 */
import * as fs from 'node:fs';
import type { LogLine, LogStream } from './log-line';
import type { DiskWriter, LogFile } from './disk-writer';
import { scanStoredLine, scannedLine, StoredLine } from './log-format';
import { markAtOrBefore } from './log-files';
import { copyBytes } from '../../lib/byte-copy';
import { packLines } from '../../lib/log-packing';

const CHUNK = 256 * 1024;
const LF = 0x0a;
const TAB = 0x09;
const STREAMS: readonly LogStream[] = ['stdout', 'stderr', 'system'];
/** A "line" longer than this has no place in our files (lines are ≤16 KiB): skip it as garbage. */
const MAX_LINE = 1024 * 1024;

/** The text of the line that stands for lines rotation removed before a reader reached them. */
export function rotatedText(count: number): string {
  return `${count} line${count === 1 ? '' : 's'} missed (removed by log rotation before the reader got to them)`;
}

interface OpenFile {
  file: LogFile;
  handle: fs.promises.FileHandle;
}

export class ForwardReader {
  /** Ordinal of the newest line handed out (or known handed out before this reader). */
  posN: number;
  /** Lines missed to rotation, reported so far. */
  rotatedAway = 0;
  private done = false;
  /** Eager: every file to read, opened; lazy: only the current one. */
  private open: OpenFile[] | undefined;
  private current: OpenFile | undefined;
  /** The last file taken up (lazy mode: the next is the first newer one). */
  private lastGen = -1;
  private offset = 0;
  /** The chunk read last; its bytes [carryStart, carryEnd) are the start of a line not read whole yet. */
  private buf: Buffer | undefined;
  private carryStart = 0;
  private carryEnd = 0;
  /** A line of `buf` was handed out as an object (which holds on to it): the next read needs a new buffer. */
  private lent = false;
  /** Run lines of the current file seen so far (for ordinals). */
  private runIndex = 0;
  /** Markers (rotation) waiting; they come before the indexed lines. */
  private readonly markers: LogLine[] = [];
  /** The indexed lines of `buf` waiting: line k is buf[starts[k], ends[k]), its text from texts[k], its fields below. */
  private starts = new Int32Array(1024);
  private texts = new Int32Array(1024);
  private ends = new Int32Array(1024);
  private seqs = new Float64Array(1024);
  private times = new Float64Array(1024);
  /** 0 stdout, 1 stderr, 2 system; +4 for a cut piece. */
  private kinds = new Uint8Array(1024);
  /** Ordinals (0: none). */
  private ns = new Float64Array(1024);
  private head = 0;
  private count = 0;
  /** Ordinal of the newest line or marker indexed (for counting what rotation took). */
  private queuedN = 0;
  private lastSeq: number;
  private lastTime = 0;
  private readonly instanceUtf8: Buffer;

  constructor(
    private readonly writer: DiskWriter,
    readonly afterSeq: number,
    readonly maxSeq: number,
    posN: number,
    private readonly eager = true,
  ) {
    this.posN = posN;
    this.lastSeq = afterSeq;
    this.instanceUtf8 = Buffer.from(writer.instance, 'utf8');
  }

  get writerInstance(): string {
    return this.writer.instance;
  }

  /** Whether a line (or marker) is read and waiting. */
  get hasReady(): boolean {
    return this.markers.length > 0 || this.head < this.count;
  }

  /** Nothing is ready and nothing more will be. */
  get finished(): boolean {
    return this.done && !this.hasReady;
  }

  /** Seq of the next line, which must be ready (hasReady). */
  get headSeq(): number {
    return this.markers.length > 0 ? this.markers[0]!.seq : this.seqs[this.head]!;
  }

  /** Reads until a line is ready; false at the end. */
  async ready(): Promise<boolean> {
    while (!this.hasReady) {
      if (this.done) return false;
      await this.fill();
    }
    return true;
  }

  /** The next line without taking it, reading more when needed; undefined at the end. */
  async peek(): Promise<LogLine | undefined> {
    if (!(await this.ready())) return undefined;
    if (this.markers.length > 0) return this.markers[0];
    // Made an object here and again by take(): peek is for tests and the rare caller.
    return this.lineAt(this.head);
  }

  /** Takes the next line (which must be ready) as an object. */
  take(): LogLine {
    const marker = this.markers.shift();
    if (marker !== undefined) {
      this.noteTaken(marker.n ?? 0);
      return marker;
    }
    const line = this.lineAt(this.head);
    this.noteTaken(this.ns[this.head++]!);
    return line;
  }

  /** The bytes the next line (which must be ready) takes packed, when it is not a marker; else -1. */
  headPackedSize(): number {
    if (this.markers.length > 0) return -1;
    const h = this.head;
    return this.ends[h]! - this.starts[h]! + this.instanceUtf8.length + 2;
  }

  /**
   * Takes the next line (which must be ready), packed (lib/log-packing.ts) into `out` at `off`,
   * and returns where it ends. `out` must have headPackedSize() bytes free (a marker: 1 KiB).
   */
  packHead(out: Buffer, off: number): number {
    if (this.markers.length > 0) {
      const packed = packLines([this.take()]);
      return off + packed.copy(out, off);
    }
    const h = this.head++;
    const buf = this.buf!;
    const text = this.texts[h]!;
    // `time \t seq \t code \t` as in the file, the instance, then the text and its newline.
    off = copyBytes(buf, this.starts[h]!, text, out, off);
    const inst = this.instanceUtf8;
    for (let k = 0; k < inst.length; k++) out[off++] = inst[k]!;
    out[off++] = TAB;
    off = copyBytes(buf, text, this.ends[h]!, out, off);
    out[off++] = LF;
    this.noteTaken(this.ns[h]!);
    return off;
  }

  /** Stops reading and closes the files. */
  async close(): Promise<void> {
    this.done = true;
    const all = [...(this.open ?? []), ...(this.current ? [this.current] : [])];
    this.open = [];
    this.current = undefined;
    await Promise.all(all.map((f) => f.handle.close().catch(() => undefined)));
  }

  private noteTaken(n: number): void {
    if (n > this.posN) this.posN = n;
  }

  private lineAt(k: number): LogLine {
    this.lent = true;
    const kind = this.kinds[k]!;
    const line = new StoredLine(this.times[k]!, this.seqs[k]!, this.writer.app, this.writer.instance, STREAMS[kind & 3]!, kind >= 4, this.buf!, this.texts[k]!, this.ends[k]!);
    const n = this.ns[k]!;
    if (n > 0) line.n = n;
    return line;
  }

  private async fill(): Promise<void> {
    if (this.current === undefined) {
      this.current = await this.nextFile();
      if (this.current === undefined) {
        this.done = true;
        return;
      }
      this.offset = 0;
      this.carryStart = this.carryEnd = 0;
      this.runIndex = 0;
      // Lines before the last mark at or before afterSeq are all older: start there.
      const file = this.current.file;
      const mark = markAtOrBefore(file, this.afterSeq);
      if (mark !== undefined && file.firstN > 0) {
        this.offset = mark.offset;
        this.runIndex = mark.n - file.firstN;
      }
    }
    const { handle } = this.current;
    const carry = this.carryEnd - this.carryStart;
    let buf = this.buf;
    if (buf === undefined || this.lent || buf.length < carry + CHUNK) {
      // A buffer of its own, read into again and again (each new one is memory outside the heap, docs/stack-notes.md).
      const fresh = Buffer.allocUnsafeSlow(CHUNK + Math.max(carry, 64 * 1024));
      if (buf !== undefined && carry > 0) buf.copy(fresh, 0, this.carryStart, this.carryEnd);
      buf = this.buf = fresh;
      this.lent = false;
    } else if (carry > 0) {
      buf.copyWithin(0, this.carryStart, this.carryEnd);
    }
    this.carryStart = this.carryEnd = 0;
    this.head = this.count = 0;
    const { bytesRead } = await handle.read(buf, carry, CHUNK, this.offset);
    this.offset += bytesRead;
    const end = carry + bytesRead;
    if (bytesRead === 0) {
      // End of this file: an unterminated rest is a write in progress (after maxSeq) or torn.
      await this.closeCurrent();
      return;
    }
    const lastNl = buf.lastIndexOf(LF, end - 1);
    if (lastNl === -1) {
      if (end <= MAX_LINE) this.carryEnd = end;
      return;
    }
    this.carryStart = lastNl + 1;
    this.carryEnd = end;
    this.index(buf, 0, lastNl + 1);
  }

  /** Indexes the lines of buf[from, to) this reader wants. */
  private index(buf: Buffer, from: number, to: number): void {
    const file = this.current!.file;
    const numbered = file.firstN > 0;
    let s = from;
    let count = 0;
    while (s < to) {
      const e = buf.indexOf(LF, s);
      const ok = scanStoredLine(buf, s, e);
      const start = s;
      s = e + 1;
      if (!ok) continue;
      const seq = scannedLine.seq;
      const n = numbered && seq >= file.firstSeq ? file.firstN + this.runIndex++ : 0;
      if (seq <= this.afterSeq) continue;
      if (seq > this.maxSeq) {
        this.done = true;
        // Closing read-only handles: a failure loses nothing and has nobody to tell.
        this.close().catch(() => undefined);
        break;
      }
      if (count === this.starts.length) this.grow();
      this.starts[count] = start;
      this.texts[count] = scannedLine.textStart;
      this.ends[count] = e;
      this.seqs[count] = seq;
      this.times[count] = scannedLine.timeMs;
      this.kinds[count] = STREAMS.indexOf(scannedLine.stream) + (scannedLine.cut ? 4 : 0);
      this.ns[count] = n;
      count++;
      this.lastSeq = seq;
      this.lastTime = scannedLine.timeMs;
      if (n > 0) this.queuedN = n;
    }
    this.count = count;
  }

  private grow(): void {
    const size = this.starts.length * 2;
    const more = <T extends Int32Array | Float64Array | Uint8Array>(a: T, make: (n: number) => T): T => {
      const b = make(size);
      b.set(a);
      return b;
    };
    this.starts = more(this.starts, (n) => new Int32Array(n));
    this.texts = more(this.texts, (n) => new Int32Array(n));
    this.ends = more(this.ends, (n) => new Int32Array(n));
    this.seqs = more(this.seqs, (n) => new Float64Array(n));
    this.times = more(this.times, (n) => new Float64Array(n));
    this.kinds = more(this.kinds, (n) => new Uint8Array(n));
    this.ns = more(this.ns, (n) => new Float64Array(n));
  }

  /** The next file to read, open; undefined when there is none. */
  private async nextFile(): Promise<OpenFile | undefined> {
    if (this.eager) {
      if (this.open === undefined) {
        const opened = await this.openAll();
        // Closed while opening: close() saw none of these handles.
        if (this.done) {
          await Promise.all(opened.map((f) => f.handle.close().catch(() => undefined)));
          return undefined;
        }
        this.open = opened;
      }
      return this.open.shift();
    }
    for (;;) {
      const next = this.writer.files.find((f) => (this.lastGen < 0 ? f.lastSeq > this.afterSeq : f.gen > this.lastGen));
      this.noteRotated(this.writer.deletedThroughN);
      if (next === undefined) return undefined;
      this.lastGen = next.gen;
      try {
        const handle = await fs.promises.open(this.writer.filePath(next.gen), 'r');
        if (this.done) {
          await handle.close().catch(() => undefined);
          return undefined;
        }
        // Deleted between the look and the open? Then its lines count as rotated away.
        this.noteRotated(this.writer.deletedThroughN);
        return { file: next, handle };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
  }

  /** Opens every file with wanted lines (all at once), oldest first; what rotation took before is counted once. */
  private async openAll(): Promise<OpenFile[]> {
    const files = this.writer.files.filter((f) => f.lastSeq > this.afterSeq);
    let goneThrough = this.writer.deletedThroughN;
    const results = await Promise.allSettled(files.map((file) => fs.promises.open(this.writer.filePath(file.gen), 'r')));
    const opened: OpenFile[] = [];
    let failure: Error | undefined;
    results.forEach((result, i) => {
      const file = files[i]!;
      if (result.status === 'fulfilled') opened.push({ file, handle: result.value });
      else if ((result.reason as NodeJS.ErrnoException).code !== 'ENOENT') failure ??= result.reason as Error;
      // Rotation deletes oldest first: this file and every older one are gone.
      else if (file.lastN > goneThrough) goneThrough = file.lastN;
    });
    if (failure !== undefined) {
      await Promise.all(opened.map((f) => f.handle.close().catch(() => undefined)));
      throw failure;
    }
    // An older file opened while a newer one was gone (deleted between the two opens): its lines count as gone too.
    const kept = opened.filter((f) => f.file.lastN === 0 || f.file.lastN > goneThrough);
    await Promise.all(opened.filter((f) => !kept.includes(f)).map((f) => f.handle.close().catch(() => undefined)));
    this.noteRotated(goneThrough);
    return kept;
  }

  /**
   * Lines with ordinals up to `goneThrough` the reader has not reached are gone: one marker says
   * how many. Called only between chunks (nothing indexed is waiting), so the marker stands at the gap.
   */
  private noteRotated(goneThrough: number): void {
    const reached = Math.max(this.posN, this.queuedN);
    const count = goneThrough - reached;
    if (count <= 0) return;
    this.rotatedAway += count;
    this.queuedN = goneThrough;
    this.markers.push({
      timeMs: this.lastTime,
      seq: this.lastSeq,
      app: this.writer.app,
      instance: this.writer.instance,
      stream: 'system',
      text: rotatedText(count),
      cut: false,
      n: goneThrough,
    });
  }

  private async closeCurrent(): Promise<void> {
    const f = this.current;
    this.current = undefined;
    await f?.handle.close().catch(() => undefined);
  }
}
