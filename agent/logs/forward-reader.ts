/**
 * Reads one instance's files forward, oldest first, from just after a seq up to a seq, a chunk
 * at a time (constant memory whatever the files hold). A reader that fell behind the live feed
 * continues here, and `cluster logs -n all` streams from here.
 *
 * At its first read (after the caller flushed every line up to maxSeq to the files) the reader
 * opens every file that holds lines it wants (forward-files.ts), so rotation cannot take them
 * away while it reads. Lines rotation deleted before that are reported once, exactly counted
 * from the ordinals the files carry (disk-writer.ts), as one `system` line at the gap. A reader
 * made with `eager: false` (many instances at once: one handle each is enough) opens one file at
 * a time instead and may meet more than one gap.
 *
 * Each file is read a chunk at a time (chunk-reader.ts); the lines of a chunk are only indexed,
 * and handed out packed straight from the file's bytes or as objects (chunk-lines.ts).
 */
import type { LogLine } from './log-line';
import type { DiskWriter } from './disk-writer';
import { ChunkLines } from './chunk-lines';
import { ChunkReader } from './chunk-reader';
import { ForwardFiles } from './forward-files';
import { packLines } from '../../lib/log-packing';
import { rotatedText } from '../../lib/rotation-marker';

export class ForwardReader {
  /** Ordinal of the newest line handed out (or known handed out before this reader). */
  posN: number;
  /** Lines missed to rotation, reported so far. */
  rotatedAway = 0;
  private done = false;
  private readonly files: ForwardFiles;
  private readonly chunks = new ChunkReader();
  private readonly lines: ChunkLines;
  /** Markers (rotation) waiting; they come before the indexed lines. */
  private readonly markers: LogLine[] = [];
  /** Ordinal of the newest line or marker indexed (for counting what rotation took). */
  private queuedN = 0;

  constructor(
    private readonly writer: DiskWriter,
    readonly afterSeq: number,
    readonly maxSeq: number,
    posN: number,
    eager = true,
  ) {
    this.posN = posN;
    this.files = new ForwardFiles(writer, afterSeq, eager, (goneThrough) => this.noteRotated(goneThrough));
    this.lines = new ChunkLines(writer.app, writer.instance, afterSeq, maxSeq);
  }

  get writerInstance(): string {
    return this.writer.instance;
  }

  /**
   * Whether a line (or marker) is read and waiting. A marker found before this reader read any
   * line has no time of its own yet: it takes the time of the first line after its gap, so it
   * waits for that line (or for the end).
   */
  get hasReady(): boolean {
    return this.lines.hasLine || (this.markers.length > 0 && (this.markers[0]!.timeMs > 0 || this.done));
  }

  /** Nothing is ready and nothing more will be. */
  get finished(): boolean {
    return this.done && !this.hasReady;
  }

  /** Seq of the next line, which must be ready (hasReady). */
  get headSeq(): number {
    return this.markers.length > 0 ? this.markers[0]!.seq : this.lines.headSeq;
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
    if (this.markers.length > 0) return this.dated(this.markers[0]!);
    // Made an object here and again by take(): peek is for tests and the rare caller.
    return this.lines.peek();
  }

  /** Takes the next line (which must be ready) as an object. */
  take(): LogLine {
    const marker = this.markers.shift();
    if (marker !== undefined) {
      this.noteTaken(marker.n ?? 0);
      return this.dated(marker);
    }
    this.noteTaken(this.lines.headN);
    return this.lines.take();
  }

  /** The bytes the next line (which must be ready) takes packed, when it is not a marker; else -1. */
  headPackedSize(): number {
    return this.markers.length > 0 ? -1 : this.lines.headPackedSize();
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
    this.noteTaken(this.lines.headN);
    return this.lines.packHead(out, off);
  }

  /** Stops reading and closes the files. */
  close(): Promise<void> {
    this.done = true;
    return this.files.close();
  }

  /** A marker with no time yet gets the next line's (it stands right before it), or now when none follows. */
  private dated(marker: LogLine): LogLine {
    if (marker.timeMs === 0) marker.timeMs = this.lines.hasLine ? this.lines.headTime : Date.now();
    return marker;
  }

  private noteTaken(n: number): void {
    if (n > this.posN) this.posN = n;
  }

  private async fill(): Promise<void> {
    let current = this.files.current;
    if (current === undefined) {
      current = await this.files.next();
      if (current === undefined) {
        this.done = true;
        return;
      }
      this.lines.startFile(current.file, this.chunks.start(current.file, current.handle, this.afterSeq));
    }
    const lent = this.lines.lent;
    this.lines.clear();
    const end = await this.chunks.read(lent);
    if (end < 0) {
      await this.files.closeCurrent();
      return;
    }
    if (end === 0) return;
    const wanted = this.lines.index(this.chunks.buf!, end);
    if (this.lines.newestN > 0) this.queuedN = this.lines.newestN;
    if (!wanted) {
      // A line past maxSeq: the rest is not this reader's. Closing read-only handles: a failure
      // loses nothing and has nobody to tell.
      this.close().catch(() => undefined);
    }
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
      timeMs: this.lines.lastTime, // 0 before the first line read: see dated()
      seq: this.lines.lastSeq,
      app: this.writer.app,
      instance: this.writer.instance,
      stream: 'system',
      text: rotatedText(count),
      cut: false,
      n: goneThrough,
    });
  }
}
