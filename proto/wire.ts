/**
 * Protobuf's wire format, by hand, for the few messages whose codecs are written out because
 * they are every process's hot path: etcd's WatchResponse (control-plane/etcd/watch-decoder.ts),
 * AssignmentBatch (control-plane/agents/assignment-wire.ts) and packed LogBatch
 * (log-batch-codec.ts). Tags are `(field number << 3) | wire type` (0 varint, 1 64-bit,
 * 2 length-delimited, 5 32-bit).
 */

const TWO_32 = 4294967296;

/** Bytes of a varint holding `n` (an integer from 0 to 2^53). */
export function varintSize(n: number): number {
  if (n < 0x80) return 1;
  if (n < 0x4000) return 2;
  if (n < 0x200000) return 3;
  if (n < 0x10000000) return 4;
  let size = 5;
  for (let rest = Math.floor(n / 0x800000000); rest > 0; rest = Math.floor(rest / 0x80)) size++;
  return size;
}

/** Bytes of a length-delimited field of `bytes` bytes (tag of one byte); 0 for none, as proto3 leaves it out. */
export function delimitedSize(bytes: number): number {
  return bytes > 0 ? 1 + varintSize(bytes) + bytes : 0;
}

/** Writes fields into a buffer sized beforehand. */
export class WireWriter {
  pos = 0;
  constructor(readonly buf: Buffer) {}

  /** One byte as it is: a one-byte tag, or a value below 0x80. */
  byte(b: number): void {
    this.buf[this.pos++] = b;
  }

  varint(n: number): void {
    while (n >= 0x80) {
      this.buf[this.pos++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    this.buf[this.pos++] = n;
  }

  int32(n: number): void {
    if (n >= 0) return this.varint(n);
    // Two's complement over 64 bits, as protobuf encodes a negative int32.
    let lo = n >>> 0;
    for (let i = 0; i < 4; i++) {
      this.buf[this.pos++] = (lo & 0x7f) | 0x80;
      lo >>>= 7;
    }
    this.buf[this.pos++] = (lo & 0x0f) | 0x70 | 0x80; // bits 28-31, then the sign's ones
    for (let i = 0; i < 4; i++) this.buf[this.pos++] = 0xff;
    this.buf[this.pos++] = 0x01;
  }

  /** A string field whose UTF-8 length is `bytes`. */
  string(tag: number, s: string, bytes: number): void {
    this.buf[this.pos++] = tag;
    this.varint(bytes);
    this.pos += this.buf.write(s, this.pos, bytes, 'utf8');
  }

  /** A bytes field. */
  bytes(tag: number, b: Uint8Array): void {
    this.buf[this.pos++] = tag;
    this.varint(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
}

/** The last large 64-bit value formatted (a status batch names one lease over and over). */
let lastHi = -1;
let lastLo = -1;
let lastSigned = false;
let lastText = '';

/**
 * Reads one message. Nested messages are read in place: `end` is the end of the message being
 * read. `what` names the message in errors (bytes that are not one throw a RangeError).
 */
export class WireReader {
  pos = 0;
  end: number;
  /** The contents of the last length-delimited field read. */
  start = 0;
  stop = 0;
  constructor(readonly buf: Buffer, private readonly what: string) {
    this.end = buf.length;
  }

  /** A varint of up to 32 bits (tags, lengths, enums, bools). */
  uint32(): number {
    const buf = this.buf;
    let b = buf[this.pos++]!;
    if (b < 0x80 && this.pos <= this.end) return b;
    let value = b & 0x7f;
    let shift = 7;
    for (;;) {
      if (this.pos >= this.end) throw this.error('a varint runs past the end of the message');
      b = buf[this.pos++]!;
      if (shift < 32) value += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) break;
      shift += 7;
      if (shift > 63) throw this.error('a varint is too long');
    }
    return value % TWO_32;
  }

  /** A 64-bit varint as its decimal text, signed (int64) or not (uint64). */
  long(signed: boolean): string {
    let lo = 0;
    let hi = 0;
    let shift = 0;
    for (;;) {
      if (this.pos >= this.end) throw this.error('a varint runs past the end of the message');
      const b = this.buf[this.pos++]!;
      const bits = b & 0x7f;
      if (shift < 28) lo += bits * 2 ** shift;
      else if (shift === 28) {
        lo += (bits & 0x0f) * 2 ** 28;
        hi += bits >>> 4;
      } else if (shift < 64) hi += bits * 2 ** (shift - 32);
      if (b < 0x80) break;
      shift += 7;
      if (shift > 63) throw this.error('a varint is too long');
    }
    hi %= TWO_32;
    if (hi < 0x200000) return String(hi * TWO_32 + lo); // below 2^53: exact as a number
    if (hi === lastHi && lo === lastLo && signed === lastSigned) return lastText;
    const big = (BigInt(hi) << 32n) | BigInt(lo);
    lastHi = hi;
    lastLo = lo;
    lastSigned = signed;
    lastText = (signed ? BigInt.asIntN(64, big) : big).toString();
    return lastText;
  }

  /** Reads a length-delimited field's bounds into `start` and `stop`. */
  delimited(): void {
    const length = this.uint32();
    this.start = this.pos;
    this.stop = this.pos + length;
    if (this.stop > this.end) throw this.error('a field runs past the end of the message');
    this.pos = this.stop;
  }

  /** Skips the value of a field this reader does not know (a newer sender's). */
  skip(wireType: number): void {
    switch (wireType) {
      case 0:
        this.long(false);
        return;
      case 1:
        this.pos += 8;
        break;
      case 2:
        this.delimited();
        return;
      case 5:
        this.pos += 4;
        break;
      default:
        throw this.error(`unexpected wire type ${wireType}`);
    }
    if (this.pos > this.end) throw this.error('a field runs past the end of the message');
  }

  /** Reads the last delimited field as a nested message with `read`, then continues after it. */
  nested<T>(read: (r: WireReader) => T): T {
    const outerEnd = this.end;
    const after = this.stop;
    this.pos = this.start;
    this.end = this.stop;
    const value = read(this);
    this.pos = after;
    this.end = outerEnd;
    return value;
  }

  private error(problem: string): RangeError {
    return new RangeError(`${this.what}: ${problem}`);
  }
}
