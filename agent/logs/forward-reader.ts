/**
 * Reads one instance's files forward, oldest first, from just after a seq up to a seq, a chunk
 * at a time (constant memory whatever the files hold). A reader that fell behind the live feed
 * continues here, and `cluster logs -n all` streams from here.
 *
 * Lines that rotation deleted before the reader got to them are reported once, exactly counted
 * from the ordinals the files carry (see disk-writer.ts), as one `system` line at the gap.
 */
import * as fs from 'node:fs';
import type { LogLine } from './log-line';
import type { DiskWriter, LogFile } from './disk-writer';
import { parseLine } from './log-format';

const CHUNK = 256 * 1024;
const LF = 0x0a;
/** A "line" longer than this has no place in our files (lines are ≤16 KiB): skip it as garbage. */
const MAX_LINE = 1024 * 1024;

/** The text of the line that stands for lines rotation removed before a reader reached them. */
export function rotatedText(count: number): string {
  return `${count} line${count === 1 ? '' : 's'} missed (removed by log rotation before the reader got to them)`;
}

export class ForwardReader {
  /** Ordinal of the newest line handed out (or known handed out before this reader). */
  posN: number;
  /** Lines missed to rotation, reported so far. */
  rotatedAway = 0;
  private done = false;
  private file: LogFile | undefined;
  private handle: fs.promises.FileHandle | undefined;
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

  /** Stops reading and closes the file. */
  async close(): Promise<void> {
    this.done = true;
    const h = this.handle;
    this.handle = undefined;
    await h?.close().catch(() => undefined);
  }

  private async fill(): Promise<void> {
    if (this.handle === undefined && !(await this.openNext())) {
      this.done = true;
      return;
    }
    const handle = this.handle as fs.promises.FileHandle;
    const buf = Buffer.allocUnsafe(CHUNK + (this.carry?.length ?? 0));
    const start = this.carry?.copy(buf, 0) ?? 0;
    const { bytesRead } = await handle.read(buf, start, CHUNK, this.offset);
    this.offset += bytesRead;
    const end = start + bytesRead;
    if (bytesRead === 0) {
      // End of this file: an unterminated rest is a write in progress (after maxSeq) or torn.
      this.carry = undefined;
      await this.closeFile();
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
    const file = this.file as LogFile;
    const writer = this.writer;
    let s = from;
    while (s < to) {
      const e = buf.indexOf(LF, s);
      const line = parseLine(buf, s, e, writer.app, writer.instance);
      s = e + 1;
      if (line === undefined) continue;
      if (file.firstN > 0 && line.seq >= file.firstSeq) line.n = file.firstN + this.runIndex++;
      if (line.seq <= this.afterSeq) continue;
      if (line.seq > this.maxSeq) {
        this.done = true;
        void this.closeFile();
        return;
      }
      this.lastSeq = line.seq;
      this.lastTime = line.timeMs;
      this.ready.push(line);
    }
  }

  /** Opens the next file that may hold wanted lines; false when there is none. */
  private async openNext(): Promise<boolean> {
    for (;;) {
      const prev = this.file;
      const next = this.writer.files.find((f) => (prev === undefined ? f.lastSeq > this.afterSeq : f.gen > prev.gen));
      this.noteRotated();
      if (next === undefined) return false;
      this.file = next;
      this.offset = 0;
      this.carry = undefined;
      this.runIndex = 0;
      try {
        this.handle = await fs.promises.open(this.writer.filePath(next.gen), 'r');
        // Deleted between the look and the open? Then its lines count as rotated away.
        this.noteRotated();
        return true;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
  }

  /** Lines with ordinals the reader has not reached are gone with a deleted file: one marker says how many. */
  private noteRotated(): void {
    const gone = this.writer.deletedThroughN - this.posN;
    if (gone <= 0) return;
    // Ordinals beyond those the reader has queued already: counted once.
    let queuedMax = this.posN;
    for (let i = this.head; i < this.ready.length; i++) queuedMax = Math.max(queuedMax, this.ready[i]!.n ?? 0);
    const count = this.writer.deletedThroughN - queuedMax;
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
      n: this.writer.deletedThroughN,
    });
  }

  private async closeFile(): Promise<void> {
    const h = this.handle;
    this.handle = undefined;
    await h?.close().catch(() => undefined);
  }
}
