/**
 * The on-disk form of the log store.
 *
 * Layout: `<dir>/<app>/<instance>/<gen>.log`, where `gen` is a decimal generation number
 * that grows by one at each rotation; the highest is the file being written. Files are
 * never renamed, so a reader that listed them sees each file keep its content.
 *
 * One line per log line: `timeMs \t seq \t code \t text \n`. `code` is one letter for the
 * stream (`o` stdout, `e` stderr, `s` system), upper case when the line is a cut piece.
 * Text is last because it may hold tabs; it never holds a newline.
 */
import type { LogLine, LogStream } from './log-line';
import { RepeatedDigits } from '../../lib/log-packing';
import { readUtf8, writeUtf8 } from '../../lib/buffer-utf8';
import { copyBytes } from '../../lib/byte-copy';

const TAB = 0x09;
const LF = 0x0a;
const ZERO = 0x30;
const STREAM_OF_CODE: Record<number, LogStream | undefined> = { 0x6f: 'stdout', 0x65: 'stderr', 0x73: 'system' };

/** Stream and cut flag → the one-letter code on disk. */
export function streamCode(stream: LogStream, cut: boolean): string {
  const code = stream === 'stdout' ? 'o' : stream === 'stderr' ? 'e' : 's';
  return cut ? code.toUpperCase() : code;
}

/** The on-disk form of one line, newline included. */
export function encodeLine(timeMs: number, seq: number, stream: LogStream, cut: boolean, text: string): string {
  return timeMs + '\t' + seq + '\t' + streamCode(stream, cut) + '\t' + text + '\n';
}

const CODE_BYTE: Record<LogStream, number> = { stdout: 0x6f, stderr: 0x65, system: 0x73 };
/** Bytes a line's text may take beyond its UTF-16 length × 3 (header and newline), at most. */
export const LINE_OVERHEAD = 40;

/**
 * Writes the on-disk form of a line into `buf` at `off` and returns where it ends. `buf`
 * must have `text.length * 3 + LINE_OVERHEAD` bytes free. The hot path of the store: the
 * header is written digit by digit, with no string built for it.
 */
export function encodeInto(buf: Buffer, off: number, timeMs: number, seq: number, stream: LogStream, cut: boolean, text: string): number {
  off = encodeHeader(buf, off, timeMs, seq, stream, cut);
  if (text.length > 0) off += writeUtf8(buf, text, off);
  buf[off++] = LF;
  return off;
}

/** encodeInto for a text held as UTF-8 bytes, raw[start, end) (no newline in it): copied as they are. */
export function encodeBytesInto(buf: Buffer, off: number, timeMs: number, seq: number, stream: LogStream, cut: boolean, raw: Buffer, start: number, end: number): number {
  off = encodeHeader(buf, off, timeMs, seq, stream, cut);
  off = copyBytes(raw, start, end, buf, off);
  buf[off++] = LF;
  return off;
}

/** The lines of one pipe read share their time and have seqs one apart. */
const headerTime = new RepeatedDigits();
const headerSeq = new RepeatedDigits();

function encodeHeader(buf: Buffer, off: number, timeMs: number, seq: number, stream: LogStream, cut: boolean): number {
  off = headerTime.writeSame(buf, off, timeMs);
  buf[off++] = TAB;
  off = headerSeq.writeNext(buf, off, seq);
  buf[off++] = TAB;
  buf[off++] = cut ? CODE_BYTE[stream] & ~0x20 : CODE_BYTE[stream];
  buf[off++] = TAB;
  return off;
}

/** Reads a non-negative decimal integer from buf[start, end); NaN when it is not one. */
function parseDecimal(buf: Buffer, start: number, end: number): number {
  if (end <= start || end - start > 16) return NaN;
  let n = 0;
  for (let i = start; i < end; i++) {
    const d = buf[i]! - ZERO;
    if (d < 0 || d > 9) return NaN;
    n = n * 10 + d;
  }
  return n;
}

/** The value scanDecimal read. */
let scanned = 0;

/**
 * Reads 1 to 16 decimal digits from buf[start, end) into `scanned` and returns the position of
 * the tab that must follow them; -1 when they are not there.
 */
function scanDecimal(buf: Buffer, start: number, end: number): number {
  let n = 0;
  let i = start;
  for (; i < end; i++) {
    const d = buf[i]! - ZERO;
    if (d < 0 || d > 9) break;
    n = n * 10 + d;
  }
  if (i === start || i - start > 16 || i >= end || buf[i] !== TAB) return -1;
  scanned = n;
  return i;
}

/** The fields before a stored line's text; one scratch object, filled by readHeader. */
const header = { timeMs: 0, seq: 0, stream: 'stdout' as LogStream, cut: false, textStart: 0 };

/** Reads the fields of the line in buf[start, end) into `header`; false when it is not a stored line (a torn write). */
function readHeader(buf: Buffer, start: number, end: number): boolean {
  // Digits up to a tab, read as they are scanned (no native call for fields this short).
  const t1 = scanDecimal(buf, start, end);
  if (t1 === -1) return false;
  const timeMs = scanned;
  const t2 = scanDecimal(buf, t1 + 1, end);
  if (t2 === -1) return false;
  const seq = scanned;
  // The code is exactly one letter followed by a tab.
  if (t2 + 2 >= end || buf[t2 + 2] !== TAB) return false;
  const code = buf[t2 + 1]!;
  const stream = STREAM_OF_CODE[code | 0x20];
  if (stream === undefined) return false;
  header.timeMs = timeMs;
  header.seq = seq;
  header.stream = stream;
  // Upper case (bit 0x20 clear) marks a cut piece.
  header.cut = (code & 0x20) === 0;
  header.textStart = t2 + 3;
  return true;
}

/** The fields scanStoredLine read: time, seq, stream, cut flag and where the text starts. */
export const scannedLine: Readonly<typeof header> = header;

/** Reads the fields of the stored line in buf[start, end) into `scannedLine`; false when it is not one (a torn write). */
export function scanStoredLine(buf: Buffer, start: number, end: number): boolean {
  return readHeader(buf, start, end);
}

/** Parses the line in buf[start, end) (no newline); undefined when it is not a stored line (a torn write). */
export function parseLine(buf: Buffer, start: number, end: number, app: string, instance: string): LogLine | undefined {
  if (!readHeader(buf, start, end)) return undefined;
  const { timeMs, seq, stream, cut, textStart } = header;
  return { timeMs, seq, app, instance, stream, text: readUtf8(buf, textStart, end), cut };
}

/**
 * A line whose text is left as bytes until someone asks for it: read from a file, or captured
 * from an instance's pipe (LogStore.appendRun). The disk writer and a reader that forwards
 * lines packed (docs/logs.md) copy the bytes and never make a string of them. Holds on to the
 * buffer the bytes are in.
 */
export class StoredLine implements LogLine {
  n?: number;
  private decoded: string | undefined;

  constructor(
    readonly timeMs: number,
    readonly seq: number,
    readonly app: string,
    readonly instance: string,
    readonly stream: LogStream,
    readonly cut: boolean,
    /** The text is raw[rawStart, rawEnd), UTF-8. */
    readonly raw: Buffer,
    readonly rawStart: number,
    readonly rawEnd: number,
  ) {}

  get text(): string {
    this.decoded ??= readUtf8(this.raw, this.rawStart, this.rawEnd);
    return this.decoded;
  }
}

/** parseLine, with the text left as bytes (StoredLine); the same checks. */
export function parseStoredLine(buf: Buffer, start: number, end: number, app: string, instance: string): StoredLine | undefined {
  if (!readHeader(buf, start, end)) return undefined;
  return new StoredLine(header.timeMs, header.seq, app, instance, header.stream, header.cut, buf, header.textStart, end);
}

/** The seq of the last whole line in buf[start, end) (which ends with a newline), if it parses. */
export function seqOfLastLine(buf: Buffer, start: number, end: number): number | undefined {
  if (end - start < 2) return undefined;
  const lineStart = Math.max(start, buf.lastIndexOf(LF, end - 2) + 1);
  const t1 = buf.indexOf(TAB, lineStart);
  if (t1 === -1 || t1 >= end) return undefined;
  const t2 = buf.indexOf(TAB, t1 + 1);
  if (t2 === -1 || t2 >= end) return undefined;
  const seq = parseDecimal(buf, t1 + 1, t2);
  return Number.isNaN(seq) ? undefined : seq;
}

/** The seq of the first line in buf[start, end), if it parses. */
export function seqOfFirstLine(buf: Buffer, start: number, end: number): number | undefined {
  const t1 = buf.indexOf(TAB, start);
  if (t1 === -1 || t1 >= end) return undefined;
  const t2 = buf.indexOf(TAB, t1 + 1);
  if (t2 === -1 || t2 >= end) return undefined;
  const seq = parseDecimal(buf, t1 + 1, t2);
  return Number.isNaN(seq) ? undefined : seq;
}

/**
 * Calls `onLine` for each line in buf[0, end) that has a newline before it, from the last
 * to the first (`end` is a line end); returns the end of the first piece, buf[0, result),
 * which may be the tail of a line that began earlier in the file. `onLine` returns false
 * to stop early (the result is then -1).
 */
export function eachLineBackwards(buf: Buffer, end: number, onLine: (start: number, end: number) => boolean): number {
  let lineEnd = end;
  for (;;) {
    if (lineEnd <= 0) return 0;
    const nl = buf.lastIndexOf(LF, lineEnd - 1);
    if (nl === -1) return lineEnd;
    if (!onLine(nl + 1, lineEnd)) return -1;
    lineEnd = nl;
  }
}

const SAFE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$/;

/** A directory name for an app or instance name: the name itself when safe, else `~` and its hex. */
export function dirName(name: string): string {
  return SAFE_NAME.test(name) ? name : '~' + Buffer.from(name, 'utf8').toString('hex');
}

/** Reverses dirName; undefined for names dirName never makes. */
export function nameFromDir(dir: string): string | undefined {
  if (SAFE_NAME.test(dir)) return dir;
  if (dir.startsWith('~') && /^~(?:[0-9a-f]{2})*$/.test(dir)) return Buffer.from(dir.slice(1), 'hex').toString('utf8');
  return undefined;
}

/** `<gen>.log` → gen; undefined for other files. */
export function genFromFile(file: string): number | undefined {
  const m = /^([0-9]{1,15})\.log$/.exec(file);
  return m ? Number(m[1]) : undefined;
}

/** The file name of a generation. */
export function fileOfGen(gen: number): string {
  return `${gen}.log`;
}
