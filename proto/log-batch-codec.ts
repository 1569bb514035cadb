/**
 * LogBatch (proto/logs.proto) on the wire, by hand, for the batches that carry their lines in
 * `packed`: every process a log line passes through (agent, control plane, CLI) handles it as a
 * few header fields around one bytes field, which is sliced out of the received message and
 * copied once into the next one; protobufjs would build and copy each message twice more
 * (fromObject, encode, finish, Buffer.from), and that copying was most of the control plane's
 * cost per line (docs/logs.md, "Delivery"). Batches with `lines` (older agents and readers)
 * go through protobufjs as before: `encodePackedBatch` and `decodePackedBatch` answer
 * undefined for them.
 */
import type { LogBatch, LogBatch__Output } from './gen/cluster/logs/LogBatch';

// Field tags: (field number << 3) | wire type (0 varint, 2 length-delimited).
const LINES = (1 << 3) | 2;
const HISTORY_DONE = (2 << 3) | 0;
const WARNINGS = (3 << 3) | 2;
const PACKED = (4 << 3) | 2;
const APP = (5 << 3) | 2;
const HOST = (6 << 3) | 2;

/**
 * Room for one message at a time, reused: for a serializer whose result is copied before it
 * returns (grpc-js's server copies a response into its frame at once), so that a busy stream
 * does not allocate a fresh buffer outside the heap per message (each one counts towards V8's
 * external memory, whose growth starts full collections: see docs/stack-notes.md).
 */
export class Scratch {
  private buf = Buffer.allocUnsafeSlow(0);

  constructor(private readonly maxBytes = 512 * 1024) {}

  /** A buffer of `size` bytes, valid until the next call. */
  take(size: number): Buffer {
    if (size > this.maxBytes) return Buffer.allocUnsafe(size);
    if (size > this.buf.length) this.buf = Buffer.allocUnsafeSlow(Math.min(this.maxBytes, Math.max(size, 2 * this.buf.length, 64 * 1024)));
    return this.buf.subarray(0, size);
  }
}

/**
 * The wire form of a batch without `lines`, or undefined when it has lines (protobufjs encodes
 * those); in `scratch` when given (then valid until its next use).
 */
export function encodePackedBatch(batch: LogBatch, scratch?: Scratch): Buffer | undefined {
  if (batch.lines !== undefined && batch.lines.length > 0) return undefined;
  const packed = batch.packed;
  if (typeof packed === 'string') return undefined; // base64 text: protobufjs's business
  const warnings = batch.warnings ?? [];
  const app = batch.app ?? '';
  const host = batch.host ?? '';
  let size = 0;
  if (batch.history_done) size += 2;
  const warningBytes = warnings.map((w) => Buffer.byteLength(w, 'utf8'));
  for (const n of warningBytes) size += 1 + varintSize(n) + n;
  const packedLength = packed === undefined ? 0 : packed.length;
  if (packedLength > 0) size += 1 + varintSize(packedLength) + packedLength;
  const appBytes = Buffer.byteLength(app, 'utf8');
  if (appBytes > 0) size += 1 + varintSize(appBytes) + appBytes;
  const hostBytes = Buffer.byteLength(host, 'utf8');
  if (hostBytes > 0) size += 1 + varintSize(hostBytes) + hostBytes;

  const out = scratch !== undefined ? scratch.take(size) : Buffer.allocUnsafe(size);
  let off = 0;
  if (batch.history_done) {
    out[off++] = HISTORY_DONE;
    out[off++] = 1;
  }
  for (let i = 0; i < warnings.length; i++) off = writeString(out, off, WARNINGS, warnings[i]!, warningBytes[i]!);
  if (packedLength > 0) {
    out[off++] = PACKED;
    off = writeVarint(out, off, packedLength);
    out.set(packed as Uint8Array, off);
    off += packedLength;
  }
  if (appBytes > 0) off = writeString(out, off, APP, app, appBytes);
  if (hostBytes > 0) off = writeString(out, off, HOST, host, hostBytes);
  return out;
}

/**
 * A received batch as proto-loader's options make it (defaults filled in), with `packed` a view
 * of `buf` (no copy, as protobufjs does); undefined when it has `lines`, which protobufjs then
 * decodes. Throws on bytes that are not a LogBatch.
 */
export function decodePackedBatch(buf: Buffer): LogBatch__Output | undefined {
  const out: LogBatch__Output = { lines: [], history_done: false, warnings: [], packed: EMPTY, app: '', host: '' };
  let off = 0;
  while (off < buf.length) {
    const [tag, afterTag] = readVarint(buf, off);
    off = afterTag;
    const wireType = tag & 7;
    if (tag === LINES) return undefined;
    if (tag === HISTORY_DONE) {
      const [value, next] = readVarint(buf, off);
      out.history_done = value !== 0;
      off = next;
      continue;
    }
    if (wireType === 2) {
      const [length, start] = readVarint(buf, off);
      const end = start + length;
      if (end > buf.length) throw new Error('LogBatch: a field runs past the end of the message');
      if (tag === PACKED) out.packed = buf.subarray(start, end);
      else if (tag === APP) out.app = buf.toString('utf8', start, end);
      else if (tag === HOST) out.host = buf.toString('utf8', start, end);
      else if (tag === WARNINGS) out.warnings.push(buf.toString('utf8', start, end));
      off = end;
      continue;
    }
    off = skip(buf, off, wireType);
  }
  return out;
}

const EMPTY = Buffer.alloc(0);

/** Skips the value of an unknown field (a newer sender's) of the given wire type. */
function skip(buf: Buffer, off: number, wireType: number): number {
  switch (wireType) {
    case 0:
      return readVarint(buf, off)[1];
    case 1:
      return off + 8;
    case 5:
      return off + 4;
    default:
      throw new Error(`LogBatch: unexpected wire type ${wireType}`);
  }
}

function writeString(out: Buffer, off: number, tag: number, s: string, bytes: number): number {
  out[off++] = tag;
  off = writeVarint(out, off, bytes);
  return off + out.write(s, off, bytes, 'utf8');
}

function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 0x80);
    size++;
  }
  return size;
}

function writeVarint(out: Buffer, off: number, n: number): number {
  while (n >= 0x80) {
    out[off++] = (n % 0x80) | 0x80;
    n = Math.floor(n / 0x80);
  }
  out[off++] = n;
  return off;
}

/** A varint below 2^53 and where it ends; throws when it runs past the end. */
function readVarint(buf: Buffer, off: number): [number, number] {
  let value = 0;
  let scale = 1;
  for (;;) {
    if (off >= buf.length) throw new Error('LogBatch: a varint runs past the end of the message');
    const b = buf[off++]!;
    value += (b & 0x7f) * scale;
    if (b < 0x80) return [value, off];
    scale *= 0x80;
    if (scale > 2 ** 63) throw new Error('LogBatch: a varint is too long');
  }
}
