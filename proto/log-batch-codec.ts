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
import { delimitedSize, varintSize, WireReader, WireWriter } from './wire';

// Field tags: (field number << 3) | wire type (0 varint, 2 length-delimited).
const LINES = (1 << 3) | 2;
const HISTORY_DONE = (2 << 3) | 0;
const WARNINGS = (3 << 3) | 2;
const PACKED = (4 << 3) | 2;
const APP = (5 << 3) | 2;
const HOST = (6 << 3) | 2;
const HISTORY_LINES = (7 << 3) | 0;

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
  const historyLines = batch.history_lines ?? 0;
  let size = 0;
  if (batch.history_done) size += 2;
  if (historyLines > 0) size += 1 + varintSize(historyLines);
  const warningBytes = warnings.map((w) => Buffer.byteLength(w, 'utf8'));
  for (const n of warningBytes) size += 1 + varintSize(n) + n;
  const packedLength = packed === undefined ? 0 : packed.length;
  size += delimitedSize(packedLength);
  const appBytes = Buffer.byteLength(app, 'utf8');
  size += delimitedSize(appBytes);
  const hostBytes = Buffer.byteLength(host, 'utf8');
  size += delimitedSize(hostBytes);

  const w = new WireWriter(scratch !== undefined ? scratch.take(size) : Buffer.allocUnsafe(size));
  if (batch.history_done) {
    w.byte(HISTORY_DONE);
    w.byte(1);
  }
  for (let i = 0; i < warnings.length; i++) w.string(WARNINGS, warnings[i]!, warningBytes[i]!);
  if (packedLength > 0) w.bytes(PACKED, packed as Uint8Array);
  if (appBytes > 0) w.string(APP, app, appBytes);
  if (hostBytes > 0) w.string(HOST, host, hostBytes);
  if (historyLines > 0) {
    w.byte(HISTORY_LINES);
    w.varint(historyLines);
  }
  return w.buf;
}

/**
 * A received batch as proto-loader's options make it (defaults filled in), with `packed` a view
 * of `buf` (no copy, as protobufjs does); undefined when it has `lines`, which protobufjs then
 * decodes. Throws on bytes that are not a LogBatch.
 */
export function decodePackedBatch(buf: Buffer): LogBatch__Output | undefined {
  const out: LogBatch__Output = { lines: [], history_done: false, warnings: [], packed: EMPTY, app: '', host: '', history_lines: 0 };
  const r = new WireReader(buf, 'LogBatch');
  while (r.pos < r.end) {
    const tag = r.uint32();
    if (tag === LINES) return undefined;
    if (tag === HISTORY_DONE) {
      out.history_done = r.uint32() !== 0;
      continue;
    }
    if (tag === HISTORY_LINES) {
      out.history_lines = r.uint32();
      continue;
    }
    if ((tag & 7) !== 2) {
      r.skip(tag & 7);
      continue;
    }
    r.delimited();
    if (tag === PACKED) out.packed = buf.subarray(r.start, r.stop);
    else if (tag === APP) out.app = buf.toString('utf8', r.start, r.stop);
    else if (tag === HOST) out.host = buf.toString('utf8', r.start, r.stop);
    else if (tag === WARNINGS) out.warnings.push(buf.toString('utf8', r.start, r.stop));
  }
  return out;
}

const EMPTY = Buffer.alloc(0);
