/**
 * UTF-8 in and out of Buffers on the log hot paths (a line is read, stored and forwarded
 * hundreds of thousands of times a second): Buffer's own utf8Write/utf8Slice, which
 * `buf.write(s, off, 'utf8')` and `buf.toString('utf8', a, b)` call after checking and
 * normalising their arguments, a cost as large as the copy itself for a 100-byte line.
 * protobufjs writes strings the same way. The callers pass valid offsets; where Buffer lacks the
 * methods (not Node), the public ones are used.
 */
interface Utf8Buffer extends Buffer {
  utf8Write(s: string, offset: number, length: number): number;
  utf8Slice(start: number, end: number): string;
}

const native = typeof (Buffer.prototype as Partial<Utf8Buffer>).utf8Write === 'function' && typeof (Buffer.prototype as Partial<Utf8Buffer>).utf8Slice === 'function';

/** Writes `s` as UTF-8 at `offset` (room for it must be there); returns the bytes written. */
export const writeUtf8: (buf: Buffer, s: string, offset: number) => number = native
  ? (buf, s, offset) => (buf as Utf8Buffer).utf8Write(s, offset, buf.length - offset)
  : (buf, s, offset) => buf.write(s, offset, 'utf8');

/** buf[start, end) as a string, invalid bytes as U+FFFD (0 ≤ start ≤ end ≤ buf.length). */
export const readUtf8: (buf: Buffer, start: number, end: number) => string = native
  ? (buf, start, end) => (buf as Utf8Buffer).utf8Slice(start, end)
  : (buf, start, end) => buf.toString('utf8', start, end);
