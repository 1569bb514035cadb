/**
 * Splits a byte stream into text lines with a hard memory bound: however long a line a
 * process prints, at most `maxLineBytes` of it are held; longer lines come out in pieces.
 *
 * With a LinesHandler, the whole lines of a chunk that is valid UTF-8 come out as bytes, all
 * of them in one call (a LineRun), with no string made for them: the log store keeps and
 * forwards them as bytes (docs/logs.md, Capture). Other lines come out as strings, in order.
 */
import { isUtf8 } from 'node:buffer';
import { readUtf8 } from '../../lib/buffer-utf8';

const LF = 0x0a;
const CR = 0x0d;
const CR_BYTE = Buffer.from([CR]);
const NO_BYTES = Buffer.alloc(0);

/** Receives one line (without its newline); `cut` is true on every piece of an over-long line but its last. */
export type LineHandler = (line: string, cut: boolean) => void;

/**
 * Whole lines of one chunk as bytes: line k is chunk[starts[k], ends[k]), valid UTF-8, without
 * its newline (nor the \r of a \r\n). The chunk is the handler's to keep; the run and its
 * arrays are reused at the next call.
 */
export interface LineRun {
  chunk: Buffer;
  starts: Uint32Array;
  ends: Uint32Array;
  count: number;
}

/** Receives the whole lines of a chunk as bytes (see LineRun). */
export type LinesHandler = (run: LineRun) => void;

/** Bounded line splitter for process output (\n or \r\n, UTF-8, invalid bytes replaced). */
export class LineSplitter {
  private buf: Buffer | undefined;
  private len = 0;
  // A \r at the very end of a chunk may be half of a \r\n split across chunks: hold it back
  // until the next byte is known, so it is neither kept in the line nor counted against the bound.
  private pendingCR = false;
  /** The lines of the current chunk not yet handed to onLines (when there is one). */
  private readonly run: LineRun = { chunk: NO_BYTES, starts: new Uint32Array(64), ends: new Uint32Array(64), count: 0 };

  constructor(
    private readonly onLine: LineHandler,
    private readonly maxLineBytes = 16_384,
    private readonly onLines?: LinesHandler,
  ) {
    // Four bytes is the longest UTF-8 sequence; a smaller bound could not carry a character.
    if (!Number.isInteger(maxLineBytes) || maxLineBytes < 4) {
      throw new RangeError(`maxLineBytes must be an integer >= 4, got ${maxLineBytes}`);
    }
  }

  /** Bytes of the current partial line held in memory (never more than `maxLineBytes`). */
  get bufferedBytes(): number {
    return this.len;
  }

  /** Feeds the next chunk of the stream. */
  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    let start = 0;
    if (this.pendingCR) {
      this.pendingCR = false;
      // Followed by \n: a CRLF, drop the \r. Otherwise it was a lone \r inside the line.
      if (chunk[0] !== LF) this.append(CR_BYTE, 0, 1);
    }
    // Bytes only when the whole chunk is UTF-8 (a chunk that ends inside a character is not:
    // its lines take the string path, which replaces invalid bytes as before).
    const asBytes = this.onLines !== undefined && isUtf8(chunk);
    const run = this.run;
    run.chunk = chunk;
    run.count = 0;
    while (start < chunk.length) {
      const nl = chunk.indexOf(LF, start);
      if (nl === -1) {
        let end = chunk.length;
        if (chunk[end - 1] === CR) {
          this.pendingCR = true;
          end--;
        }
        this.emitRun();
        run.chunk = NO_BYTES;
        this.append(chunk, start, end);
        return;
      }
      const end = nl > start && chunk[nl - 1] === CR ? nl - 1 : nl;
      if (this.len === 0 && end - start <= this.maxLineBytes) {
        // Fast path: a whole line inside one chunk, as bytes or decoded straight from the chunk.
        if (asBytes) this.addToRun(start, end);
        else this.onLine(readUtf8(chunk, start, end), false);
      } else {
        this.emitRun();
        this.append(chunk, start, end);
        this.flush();
      }
      start = nl + 1;
    }
    this.emitRun();
    run.chunk = NO_BYTES;
  }

  private addToRun(start: number, end: number): void {
    const run = this.run;
    if (run.count === run.starts.length) {
      const starts = new Uint32Array(run.count * 2);
      const ends = new Uint32Array(run.count * 2);
      starts.set(run.starts);
      ends.set(run.ends);
      run.starts = starts;
      run.ends = ends;
    }
    run.starts[run.count] = start;
    run.ends[run.count] = end;
    run.count++;
  }

  /** Hands the lines gathered so far to onLines (before any other line comes out). */
  private emitRun(): void {
    if (this.run.count === 0) return;
    this.onLines!(this.run);
    this.run.count = 0;
  }

  /** Ends the stream: delivers a final line that had no newline. */
  end(): void {
    // A trailing \r at end of stream is treated like the \r of a CRLF.
    this.pendingCR = false;
    if (this.len > 0) this.flush();
  }

  /**
   * Stops mid-stream (a hand-over: the next reader of the same FIFO reads the rest): a partial
   * line comes out as a cut piece, not as a whole line; its rest comes out as the next reader's
   * first line. A \r held back (see pendingCR) is dropped, as at end().
   */
  cutOff(): void {
    this.pendingCR = false;
    if (this.len === 0) return;
    const line = readUtf8(this.buf as Buffer, 0, this.len);
    this.len = 0;
    this.onLine(line, true);
  }

  /** Appends bytes of the current line, emitting cut pieces whenever the bound is reached. */
  private append(src: Buffer, start: number, end: number): void {
    while (start < end) {
      // Full and more bytes of the same line are coming: the line is too long, cut it.
      if (this.len === this.maxLineBytes) this.cut();
      this.buf ??= Buffer.allocUnsafe(this.maxLineBytes);
      const n = Math.min(end - start, this.maxLineBytes - this.len);
      src.copy(this.buf, this.len, start, start + n);
      this.len += n;
      start += n;
    }
  }

  /** Emits the buffered bytes up to the last whole character as a cut piece; keeps the rest. */
  private cut(): void {
    const buf = this.buf as Buffer;
    const keep = incompleteTailLength(buf, this.len);
    const emit = this.len - keep;
    this.onLine(readUtf8(buf, 0, emit), true);
    buf.copyWithin(0, emit, this.len);
    this.len = keep;
  }

  /** Emits the buffered line as complete. */
  private flush(): void {
    const line = this.len === 0 ? '' : readUtf8(this.buf as Buffer, 0, this.len);
    this.len = 0;
    this.onLine(line, false);
  }
}

/**
 * Length of an unfinished UTF-8 sequence at the end of buf[0, len), so a cut does not split
 * a character. 0 when the tail is complete, not UTF-8, or the sequence fills the whole buffer.
 */
function incompleteTailLength(buf: Buffer, len: number): number {
  // Walk back over at most three continuation bytes (10xxxxxx) to the lead byte.
  let i = len - 1;
  while (i >= 0 && len - i <= 3 && (buf[i] & 0xc0) === 0x80) i--;
  if (i <= 0) return 0;
  const lead = buf[i];
  const needed = lead >= 0xf0 && lead < 0xf8 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
  return i + needed > len ? len - i : 0;
}
