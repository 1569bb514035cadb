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
 */
import * as fs from 'node:fs';
import type { LogLine } from './log-line';
import type { DiskWriter, LogFile } from './disk-writer';
import { parseStoredLine } from './log-format';
import { markAtOrBefore } from './log-files';

const CHUNK = 256 * 1024;
const LF = 0x0a;
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
  private carry: Buffer | undefined;
  /** Run lines of the current file seen so far (for ordinals). */
  private runIndex = 0;
  private readonly ready: LogLine[] = [];
  private head = 0;
  private lastSeq: number;
  private lastTime = 0;

  constructor(
    private readonly writer: DiskWriter,
    readonly afterSeq: number,
    readonly maxSeq: number,
    posN: number,
    private readonly eager = true,
  ) {
    this.posN = posN;
    this.lastSeq = afterSeq;
  }

  get writerInstance(): string {
    return this.writer.instance;
  }

  /** The next line without taking it, reading more when needed; undefined at the end. */
  async peek(): Promise<LogLine | undefined> {
    while (this.head >= this.ready.length) {
      if (this.done) return undefined;
      this.ready.length = 0;
      this.head = 0;
      await this.fill();
    }
    return this.ready[this.head];
  }

  /** The next line when one is read already (no await), else undefined. */
  peekReady(): LogLine | undefined {
    return this.head < this.ready.length ? this.ready[this.head] : undefined;
  }

  /** Takes the line peek() returned. */
  take(): LogLine {
    const line = this.ready[this.head++] as LogLine;
    if (line.n !== undefined && line.n > this.posN) this.posN = line.n;
    return line;
  }

  /** Stops reading and closes the files. */
  async close(): Promise<void> {
    this.done = true;
    const all = [...(this.open ?? []), ...(this.current ? [this.current] : [])];
    this.open = [];
    this.current = undefined;
    await Promise.all(all.map((f) => f.handle.close().catch(() => undefined)));
  }

  private async fill(): Promise<void> {
    if (this.current === undefined) {
      this.current = await this.nextFile();
      if (this.current === undefined) {
        this.done = true;
        return;
      }
      this.offset = 0;
      this.carry = undefined;
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
    const buf = Buffer.allocUnsafe(CHUNK + (this.carry?.length ?? 0));
    const start = this.carry?.copy(buf, 0) ?? 0;
    const { bytesRead } = await handle.read(buf, start, CHUNK, this.offset);
    this.offset += bytesRead;
    const end = start + bytesRead;
    if (bytesRead === 0) {
      // End of this file: an unterminated rest is a write in progress (after maxSeq) or torn.
      await this.closeCurrent();
      return;
    }
    const lastNl = buf.lastIndexOf(LF, end - 1);
    if (lastNl === -1) {
      this.carry = end > MAX_LINE ? undefined : Buffer.from(buf.subarray(0, end));
      return;
    }
    this.carry = lastNl + 1 < end ? Buffer.from(buf.subarray(lastNl + 1, end)) : undefined;
    this.parse(buf, 0, lastNl + 1);
  }

  private parse(buf: Buffer, from: number, to: number): void {
    const file = this.current!.file;
    const writer = this.writer;
    let s = from;
    while (s < to) {
      const e = buf.indexOf(LF, s);
      const line = parseStoredLine(buf, s, e, writer.app, writer.instance);
      s = e + 1;
      if (line === undefined) continue;
      if (file.firstN > 0 && line.seq >= file.firstSeq) line.n = file.firstN + this.runIndex++;
      if (line.seq <= this.afterSeq) continue;
      if (line.seq > this.maxSeq) {
        this.done = true;
        // Closing read-only handles: a failure loses nothing and has nobody to tell.
        this.close().catch(() => undefined);
        return;
      }
      this.lastSeq = line.seq;
      this.lastTime = line.timeMs;
      this.ready.push(line);
    }
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

  /** Opens every file with wanted lines, oldest first; what rotation took before is counted once. */
  private async openAll(): Promise<OpenFile[]> {
    const files = this.writer.files.filter((f) => f.lastSeq > this.afterSeq);
    let goneThrough = this.writer.deletedThroughN;
    const opened: OpenFile[] = [];
    for (const file of files) {
      try {
        opened.push({ file, handle: await fs.promises.open(this.writer.filePath(file.gen), 'r') });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
          await Promise.all(opened.map((f) => f.handle.close().catch(() => undefined)));
          throw err;
        }
        // Rotation deletes oldest first: this file and every older one are gone.
        if (file.lastN > goneThrough) goneThrough = file.lastN;
      }
    }
    this.noteRotated(goneThrough);
    return opened;
  }

  /** Lines with ordinals up to `goneThrough` the reader has not reached are gone: one marker says how many. */
  private noteRotated(goneThrough: number): void {
    let reached = this.posN;
    for (let i = this.head; i < this.ready.length; i++) reached = Math.max(reached, this.ready[i]!.n ?? 0);
    const count = goneThrough - reached;
    if (count <= 0) return;
    this.rotatedAway += count;
    this.ready.push({
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
