/**
 * Log lines packed into one bytes field of a LogBatch (proto/logs.proto): one protobuf message
 * per line costs far more than the line itself, so agents send runs of lines as text and the
 * control plane forwards them without looking inside. Per line:
 *
 *   time_ms \t seq \t code \t instance \t text \n
 *
 * `code` is o, e or s (stdout, stderr, system), upper case for a cut piece. The app and the host
 * are the batch's. Text is last: it may hold tabs, never a newline. See docs/logs.md.
 */
import { writeUtf8 } from './buffer-utf8';
import { copyBytes } from './byte-copy';

/** One line as packed (a subset of the wire LogLine; time and seq are integers). */
export interface PackableLine {
  timeMs: number;
  seq: number;
  instance: string;
  stream: string;
  text: string;
  cut: boolean;
  /**
   * The text as UTF-8 bytes, raw[rawStart, rawEnd), when the line has them (read from an
   * agent's file): they are copied as they are, and `text` is never asked for.
   */
  raw?: Buffer;
  rawStart?: number;
  rawEnd?: number;
}

/** About the bytes a line's text takes packed (UTF-16 units for a string), without decoding raw bytes. */
export function textSize(l: PackableLine): number {
  return l.raw !== undefined ? l.rawEnd! - l.rawStart! : l.text.length;
}

/** A packed line, unpacked: the wire LogLine's fields. */
export interface UnpackedLine {
  time_ms: number;
  seq: number;
  app: string;
  instance: string;
  stream: string;
  text: string;
  cut: boolean;
  host: string;
}

const STREAM: Record<string, string> = { o: 'stdout', e: 'stderr', s: 'system' };

const CODE_BYTE: Record<string, number> = { stdout: 0x6f, stderr: 0x65, system: 0x73 };
const TAB = 0x09;
const LF = 0x0a;
const ZERO = 0x30;

/**
 * Packs lines; a text's newline (never stored, but system lines are ours) becomes a space.
 * The hot path of an agent serving a follower: bytes are written straight into the buffer,
 * numbers digit by digit, with no string made per line.
 */
export function packLines(lines: readonly PackableLine[]): Buffer {
  let room = 0;
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    room += (l.raw !== undefined ? l.rawEnd! - l.rawStart! : l.text.length * 3) + l.instance.length * 3 + 64;
  }
  // The room is a bound (a UTF-16 unit may take 3 bytes), about three times what ASCII text
  // takes: the lines are packed into a reused work buffer and copied out at their size, so that
  // a busy agent does not churn twice the memory outside the heap that it sends (docs/stack-notes.md).
  if (room > MAX_WORK_BYTES) return packInto(Buffer.allocUnsafe(room), lines);
  if (work.length < room) work = Buffer.allocUnsafeSlow(Math.min(MAX_WORK_BYTES, Math.max(room, 2 * work.length)));
  // Copied out into memory that is not zeroed first (Buffer.from(buffer) zeroes, then copies).
  const packed = packInto(work, lines);
  const out = Buffer.allocUnsafe(packed.length);
  packed.copy(out, 0);
  return out;
}

/** The work buffer packLines fills before copying the result out; grown on demand, up to MAX_WORK_BYTES. */
let work = Buffer.allocUnsafeSlow(0);
const MAX_WORK_BYTES = 1024 * 1024;

/**
 * Instance names as UTF-8, remembered: lines of several instances interleave (a follower of an
 * app catching up from the files gets them merged by seq), and encoding the name at each
 * change of instance was a buffer per few lines. Cleared when it holds many (names come and go).
 */
const instanceUtf8 = new Map<string, Buffer>();
const MAX_REMEMBERED_INSTANCES = 4096;

function utf8Of(instance: string): Buffer {
  let bytes = instanceUtf8.get(instance);
  if (bytes === undefined) {
    if (instanceUtf8.size >= MAX_REMEMBERED_INSTANCES) instanceUtf8.clear();
    bytes = Buffer.from(instance, 'utf8');
    instanceUtf8.set(instance, bytes);
  }
  return bytes;
}

/** Packs lines into buf (room enough for them); returns the packed part of it. */
function packInto(buf: Buffer, lines: readonly PackableLine[]): Buffer {
  let off = 0;
  let lastInstance = '';
  let instanceBytes: Buffer = Buffer.alloc(0);
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    off = packTime.writeSame(buf, off, l.timeMs);
    buf[off++] = TAB;
    off = packSeq.writeNext(buf, off, l.seq);
    buf[off++] = TAB;
    const code = CODE_BYTE[l.stream] ?? 0x73;
    buf[off++] = l.cut ? code & ~0x20 : code;
    buf[off++] = TAB;
    if (l.instance !== lastInstance || instanceBytes.length === 0) {
      lastInstance = l.instance;
      instanceBytes = utf8Of(l.instance);
    }
    // A few bytes: a loop costs less than buf.copy's checks.
    for (let k = 0; k < instanceBytes.length; k++) buf[off++] = instanceBytes[k]!;
    buf[off++] = TAB;
    const raw = l.raw;
    if (raw !== undefined) {
      // A stored line's text: its bytes hold no newline (files have one line per line).
      off = copyBytes(raw, l.rawStart!, l.rawEnd!, buf, off);
    } else {
      const text = l.text.includes('\n') ? l.text.replace(/\r?\n/g, ' ') : l.text;
      if (text.length > 0) off += writeUtf8(buf, text, off);
    }
    buf[off++] = LF;
  }
  return buf.subarray(0, off);
}

/** A number as `${n}` would write it; integers (all agents send) digit by digit. */
function writeNumber(buf: Buffer, off: number, n: number): number {
  if (Number.isSafeInteger(n) && n >= 0) return writeDecimal(buf, off, n);
  return off + buf.write(String(n), off, 'latin1');
}

/** Writes a non-negative integer below 2^53 in decimal into buf at off; returns where it ends. */
function writeDecimal(buf: Buffer, off: number, value: number): number {
  // Two halves below 1e8, so the digit loops run on small integers.
  const hi = Math.floor(value / 1e8);
  const lo = value - hi * 1e8;
  const len = hi > 0 ? 8 + digitCount(hi) : digitCount(lo);
  let p = off + len - 1;
  let rest = lo;
  for (let k = hi > 0 ? 8 : len; k > 0; k--) {
    const q = (rest / 10) | 0;
    buf[p--] = ZERO + rest - q * 10;
    rest = q;
  }
  rest = hi;
  while (p >= off) {
    const q = (rest / 10) | 0;
    buf[p--] = ZERO + rest - q * 10;
    rest = q;
  }
  return off + len;
}

/**
 * The digits of the last number written, for a run of lines whose times are equal and whose
 * seqs are one apart: copied (or copied plus one) instead of computed again. Any number may
 * come (packed lines are what agents sent); only integers are copied plus one.
 */
export class RepeatedDigits {
  private readonly digits = Buffer.alloc(24);
  private len = 0;
  private of = NaN;

  /** Writes `n`, copying the digits when it is the last number written. */
  writeSame(buf: Buffer, off: number, n: number): number {
    if (n === this.of) return this.copyTo(buf, off);
    return this.remember(buf, off, n);
  }

  /** Writes `n`, adding one to the last number's digits when it is the one after it. */
  writeNext(buf: Buffer, off: number, n: number): number {
    if (n === this.of + 1 && this.increment()) {
      this.of = n;
      return this.copyTo(buf, off);
    }
    return this.remember(buf, off, n);
  }

  private copyTo(buf: Buffer, off: number): number {
    const { digits, len } = this;
    for (let k = 0; k < len; k++) buf[off + k] = digits[k]!;
    return off + len;
  }

  private remember(buf: Buffer, off: number, n: number): number {
    const end = writeNumber(buf, off, n);
    this.len = end - off;
    // At most 24 digits: a loop costs less than buf.copy's checks and view.
    const digits = this.digits;
    for (let k = off; k < end; k++) digits[k - off] = buf[k]!;
    this.of = Number.isSafeInteger(n) && n >= 0 ? n : NaN;
    return end;
  }

  /** Adds one to the remembered digits in place; false (digits left all zero) when it would need one more. */
  private increment(): boolean {
    const { digits } = this;
    let p = this.len - 1;
    while (p >= 0 && digits[p] === NINE) digits[p--] = ZERO;
    if (p < 0) return false;
    digits[p]!++;
    return true;
  }
}

const NINE = 0x39;

/** Lines of one pipe read share their time, and the seqs of a run are one apart. */
const packTime = new RepeatedDigits();
const packSeq = new RepeatedDigits();

/** Decimal digits of an integer in [0, 1e8). */
function digitCount(n: number): number {
  return n >= 1e7 ? 8 : n >= 1e6 ? 7 : n >= 1e5 ? 6 : n >= 1e4 ? 5 : n >= 1e3 ? 4 : n >= 100 ? 3 : n >= 10 ? 2 : 1;
}

/** Calls `each` for every line of a packed buffer, in order; malformed lines are skipped. */
export function eachPacked(packed: Buffer, app: string, host: string, each: (line: UnpackedLine) => void): void {
  const s = packed.toString('utf8');
  let start = 0;
  while (start < s.length) {
    let end = s.indexOf('\n', start);
    if (end === -1) end = s.length;
    const t1 = s.indexOf('\t', start);
    const t2 = t1 === -1 ? -1 : s.indexOf('\t', t1 + 1);
    const t3 = t2 === -1 ? -1 : s.indexOf('\t', t2 + 1);
    const t4 = t3 === -1 ? -1 : s.indexOf('\t', t3 + 1);
    if (t4 !== -1 && t4 < end && t3 === t2 + 2) {
      const code = s[t2 + 1]!;
      const lower = code.toLowerCase();
      each({
        time_ms: Number(s.slice(start, t1)),
        seq: Number(s.slice(t1 + 1, t2)),
        app,
        instance: s.slice(t3 + 1, t4),
        stream: STREAM[lower] ?? 'system',
        text: s.slice(t4 + 1, end),
        cut: code !== lower,
        host,
      });
    }
    start = end + 1;
  }
}

/** Every line of a packed buffer. */
export function unpackLines(packed: Buffer, app: string, host: string): UnpackedLine[] {
  const out: UnpackedLine[] = [];
  eachPacked(packed, app, host, (l) => out.push(l));
  return out;
}

/** The seq of a packed buffer's last line (undefined when it has none that parses). */
export function lastPackedSeq(packed: Buffer): number | undefined {
  let end = packed.length;
  if (end > 0 && packed[end - 1] === LF) end--;
  if (end === 0) return undefined;
  const start = packed.lastIndexOf(LF, end - 1) + 1;
  const t1 = packed.indexOf(TAB, start);
  if (t1 === -1 || t1 >= end) return undefined;
  let seq = 0;
  let i = t1 + 1;
  for (; i < end; i++) {
    const d = packed[i]! - ZERO;
    if (d < 0 || d > 9) break;
    seq = seq * 10 + d;
  }
  return i > t1 + 1 && packed[i] === TAB ? seq : undefined;
}
