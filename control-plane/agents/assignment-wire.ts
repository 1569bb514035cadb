/**
 * Assignment batches (proto/agent.proto `AssignmentBatch`) encoded straight from the mirror's
 * assignments into the bytes the agents' streams carry.
 *
 * A scale-up to 100k instances sends 100k assignments down the agents' streams within seconds.
 * Through proto-loader each one was first copied into a wire-shaped object, then into a
 * protobufjs message, then encoded; here each field is written once into one buffer per batch.
 * The stream's serializer passes such a buffer through (`passEncoded`). The field numbers are
 * agent.proto's; test/unit/assignment-wire.test.ts decodes the result with proto-loader.
 */
import type { ServiceDefinition } from '@grpc/grpc-js';
import type { Assignment } from '../scheduler/types';
import type { AssignmentDelta } from './assignment-hub';
import { delimitedSize, varintSize, WireWriter } from '../../proto/wire';

/** Bytes of an int32 field's value: a negative one is sign-extended to 10 bytes. */
function int32Size(n: number): number {
  return n < 0 ? 10 : varintSize(n);
}

/** An assignment's wire fields (as agent-service.ts's toWire), proto3 defaults left out. */
interface Sized {
  a: Assignment;
  app: number;
  instance: number;
  type: number;
  slug: number;
  token: number;
  release: number;
  grace: number;
  boot: number;
  /** The app's creation time (0: unknown, left out). */
  created: number;
  /** The encoded Assignment message's length. */
  size: number;
}

const int32 = (n: unknown) => (typeof n === 'number' && Number.isFinite(n) ? n | 0 : 0);
const text = (s: unknown) => (typeof s === 'string' ? s : '');

/** When each app was created (AppRecord.createdAtMs; 0 when unknown). */
export type AppCreatedAt = (app: string) => number;

function sized(a: Assignment, createdAt: AppCreatedAt): Sized {
  const s: Sized = {
    a,
    app: Buffer.byteLength(text(a.app)),
    instance: Buffer.byteLength(text(a.instance)),
    type: Buffer.byteLength(text(a.type)),
    slug: Buffer.byteLength(text(a.slug)),
    token: Buffer.byteLength(text(a.restartToken)),
    release: int32(a.release),
    grace: int32(a.graceMs),
    boot: int32(a.bootTimeoutMs),
    created: createdAt(text(a.app)) || 0,
    size: 0,
  };
  const num = (n: number) => (n !== 0 ? 1 + int32Size(n) : 0);
  s.size = delimitedSize(s.app) + delimitedSize(s.instance) + delimitedSize(s.type) + num(s.release) + delimitedSize(s.slug) + delimitedSize(s.token) + num(s.grace) + num(s.boot) + (a.logsNonBlocking === true ? 3 : 0) +
    (s.created !== 0 ? 10 : 0);
  return s;
}

function writeAssignment(w: WireWriter, s: Sized): void {
  const a = s.a;
  if (s.app > 0) w.string(0x0a, text(a.app), s.app);
  if (s.instance > 0) w.string(0x12, text(a.instance), s.instance);
  if (s.type > 0) w.string(0x1a, text(a.type), s.type);
  if (s.release !== 0) {
    w.buf[w.pos++] = 0x20;
    w.int32(s.release);
  }
  if (s.slug > 0) w.string(0x2a, text(a.slug), s.slug);
  if (s.token > 0) w.string(0x42, text(a.restartToken), s.token);
  if (s.grace !== 0) {
    w.buf[w.pos++] = 0x48;
    w.int32(s.grace);
  }
  if (s.boot !== 0) {
    w.buf[w.pos++] = 0x50;
    w.int32(s.boot);
  }
  if (a.logsNonBlocking === true) {
    // Field 20, varint: tag 160 is two bytes.
    w.buf[w.pos++] = 0xa0;
    w.buf[w.pos++] = 0x01;
    w.buf[w.pos++] = 0x01;
  }
  if (s.created !== 0) {
    // Field 21, 64-bit (a double): tag 169 is two bytes.
    w.buf[w.pos++] = 0xa9;
    w.buf[w.pos++] = 0x01;
    w.buf.writeDoubleLE(s.created, w.pos);
    w.pos += 8;
  }
}

/** The AssignmentBatch message of `delta`, encoded. */
export function encodeAssignmentBatch(delta: AssignmentDelta, createdAt: AppCreatedAt = () => 0): Buffer {
  // Asked once per app of the batch, not per assignment: a scale-up sends 100k of a few apps.
  const ofApp = new Map<string, number>();
  const createdOnce: AppCreatedAt = (app) => {
    let ms = ofApp.get(app);
    if (ms === undefined) ofApp.set(app, (ms = createdAt(app)));
    return ms;
  };
  const upserts = delta.upserts.map((a) => sized(a, createdOnce));
  const removes = delta.removes.map((r) => {
    const app = Buffer.byteLength(text(r.app));
    const instance = Buffer.byteLength(text(r.instance));
    const size = delimitedSize(app) + delimitedSize(instance);
    return { r, app, instance, size };
  });
  let total = delta.snapshot ? 2 : 0;
  for (const s of upserts) total += 1 + varintSize(s.size) + s.size;
  for (const s of removes) total += 1 + varintSize(s.size) + s.size;
  const w = new WireWriter(Buffer.allocUnsafe(total));
  if (delta.snapshot) {
    w.buf[w.pos++] = 0x08;
    w.buf[w.pos++] = 0x01;
  }
  for (const s of upserts) {
    w.buf[w.pos++] = 0x12;
    w.varint(s.size);
    writeAssignment(w, s);
  }
  for (const s of removes) {
    w.buf[w.pos++] = 0x1a;
    w.varint(s.size);
    if (s.app > 0) w.string(0x0a, text(s.r.app), s.app);
    if (s.instance > 0) w.string(0x12, text(s.r.instance), s.instance);
  }
  if (w.pos !== total) throw new Error(`bug: assignment batch encoded to ${w.pos} bytes, ${total} expected`);
  return w.buf;
}

/**
 * `service` with the responses of `method` (a server stream) passed through when they are
 * already encoded (a Buffer), and serialized as before otherwise.
 */
export function passEncoded<S extends ServiceDefinition>(service: S, method: keyof S & string): S {
  const definition = service[method]!;
  const serialize = definition.responseSerialize;
  return {
    ...service,
    [method]: { ...definition, responseSerialize: (value: unknown) => (Buffer.isBuffer(value) ? value : serialize(value)) },
  };
}
