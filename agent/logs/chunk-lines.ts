/**
 * The lines a forward reader (forward-reader.ts) wants of the chunk it read last, indexed in
 * parallel typed arrays (where each starts, its seq and ordinal), not made into objects: a
 * follower that takes them packed (packHead) gets the file's bytes copied into its batch as they
 * are (the file's `time \t seq \t code \t` is the packed form's, lib/log-packing.ts). A line is
 * made an object (take) only for readers that want objects.
 */
import type { LogLine, LogStream } from './log-line';
import type { LogFile } from './disk-writer';
import { scanStoredLine, scannedLine, StoredLine } from './log-format';
import { copyBytes } from '../../lib/byte-copy';

const LF = 0x0a;
const TAB = 0x09;
const STREAMS: readonly LogStream[] = ['stdout', 'stderr', 'system'];

export class ChunkLines {
  /** A line was handed out as an object (which holds on to the chunk's buffer): the next chunk needs a new buffer. */
  lent = false;
  /** Seq and time of the newest line indexed (where a marker of lines missed goes). */
  lastSeq: number;
  lastTime = 0;
  /** Ordinal of the newest line of the last chunk indexed that has one (0: none). */
  newestN = 0;
  /** The chunk's buffer; line k is buf[starts[k], ends[k]), its text from texts[k], its fields below. */
  private buf: Buffer | undefined;
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
  /** The file the lines come from, and its run lines seen so far (for ordinals). */
  private file: LogFile | undefined;
  private runIndex = 0;
  private readonly instanceUtf8: Buffer;

  constructor(
    private readonly app: string,
    private readonly instance: string,
    private readonly afterSeq: number,
    private readonly maxSeq: number,
  ) {
    this.lastSeq = afterSeq;
    this.instanceUtf8 = Buffer.from(instance, 'utf8');
  }

  /** Whether an indexed line is waiting. */
  get hasLine(): boolean {
    return this.head < this.count;
  }

  /** Seq of the next line, which must be waiting (hasLine). */
  get headSeq(): number {
    return this.seqs[this.head]!;
  }

  /** Time of the next line, which must be waiting (hasLine). */
  get headTime(): number {
    return this.times[this.head]!;
  }

  /** Ordinal of the next line, which must be waiting (0: none). */
  get headN(): number {
    return this.ns[this.head]!;
  }

  /** The next line as an object, without taking it (made again by take()). */
  peek(): LogLine {
    return this.lineAt(this.head);
  }

  /** Takes the next line, which must be waiting, as an object. */
  take(): LogLine {
    return this.lineAt(this.head++);
  }

  /** The bytes the next line, which must be waiting, takes packed. */
  headPackedSize(): number {
    const h = this.head;
    return this.ends[h]! - this.starts[h]! + this.instanceUtf8.length + 2;
  }

  /**
   * Takes the next line, which must be waiting, packed (lib/log-packing.ts) into `out` at `off`,
   * and returns where it ends. `out` must have headPackedSize() bytes free.
   */
  packHead(out: Buffer, off: number): number {
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
    return off;
  }

  /** The lines to come are `file`'s, from its run line `runIndex` on (their ordinals count from there). */
  startFile(file: LogFile, runIndex: number): void {
    this.file = file;
    this.runIndex = runIndex;
  }

  /** Lets the waiting lines go: the chunk's buffer is read into again (unless lent) or replaced. */
  clear(): void {
    this.head = this.count = 0;
    this.lent = false;
  }

  /**
   * Indexes the wanted lines of buf[0, end) (whole lines of the current file) in place of the
   * last chunk's; false when a line is past maxSeq (it and what follows are not wanted).
   */
  index(buf: Buffer, end: number): boolean {
    const file = this.file!;
    const numbered = file.firstN > 0;
    let wanted = true;
    let s = 0;
    let count = 0;
    this.buf = buf;
    this.newestN = 0;
    while (s < end) {
      const e = buf.indexOf(LF, s);
      const ok = scanStoredLine(buf, s, e);
      const start = s;
      s = e + 1;
      if (!ok) continue;
      const seq = scannedLine.seq;
      const n = numbered && seq >= file.firstSeq ? file.firstN + this.runIndex++ : 0;
      if (seq <= this.afterSeq) continue;
      if (seq > this.maxSeq) {
        wanted = false;
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
      if (n > 0) this.newestN = n;
    }
    this.count = count;
    return wanted;
  }

  private lineAt(k: number): LogLine {
    this.lent = true;
    const kind = this.kinds[k]!;
    const line = new StoredLine(this.times[k]!, this.seqs[k]!, this.app, this.instance, STREAMS[kind & 3]!, kind >= 4, this.buf!, this.texts[k]!, this.ends[k]!);
    const n = this.ns[k]!;
    if (n > 0) line.n = n;
    return line;
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
}
