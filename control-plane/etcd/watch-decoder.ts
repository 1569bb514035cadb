/**
 * A decoder for etcd's WatchResponse that gives exactly what etcd3's own (proto-loader with
 * `longs: String, enums: String, defaults: true`) gives, at a fraction of the cost.
 *
 * The control plane's watches carry every assignment the leader writes and every status the
 * agents report (200k events for 100k instances placed and up). proto-loader decodes each event
 * into a protobufjs message, then copies it into a plain object, turning each of its five 64-bit
 * integers into a Long and then into a decimal string: that was most of the cost of a watch
 * event, and most of the short-lived garbage of a scale-up (docs/stack-notes.md, "etcd3").
 * Here each field is read once into the plain object; 64-bit integers below 2^53 (every
 * revision) are formatted as numbers, larger ones (lease ids) through BigInt.
 *
 * `key` and `value` are views into the received message, as protobufjs gives them.
 */
import type { Etcd3 } from 'etcd3';
import { WireReader } from '../../proto/wire';

export interface DecodedKeyValue {
  key: Buffer;
  create_revision: string;
  mod_revision: string;
  version: string;
  value: Buffer;
  lease: string;
}

export interface DecodedEvent {
  type: 'Put' | 'Delete';
  kv: DecodedKeyValue | null;
  prev_kv: DecodedKeyValue | null;
}

export interface DecodedWatchResponse {
  header: { cluster_id: string; member_id: string; revision: string; raft_term: string } | null;
  watch_id: string;
  created: boolean;
  canceled: boolean;
  compact_revision: string;
  cancel_reason: string;
  fragment: boolean;
  events: DecodedEvent[];
}

const EMPTY = Buffer.alloc(0);

function keyValue(r: WireReader): DecodedKeyValue {
  const buf = r.buf;
  const kv: DecodedKeyValue = { key: EMPTY, create_revision: '0', mod_revision: '0', version: '0', value: EMPTY, lease: '0' };
  while (r.pos < r.end) {
    const tag = r.uint32();
    switch (tag) {
      case 0x0a:
        r.delimited();
        kv.key = buf.subarray(r.start, r.stop);
        break;
      case 0x10:
        kv.create_revision = r.long(true);
        break;
      case 0x18:
        kv.mod_revision = r.long(true);
        break;
      case 0x20:
        kv.version = r.long(true);
        break;
      case 0x2a:
        r.delimited();
        kv.value = buf.subarray(r.start, r.stop);
        break;
      case 0x30:
        kv.lease = r.long(true);
        break;
      default:
        r.skip(tag & 7);
    }
  }
  return kv;
}

function event(r: WireReader): DecodedEvent {
  const ev: DecodedEvent = { type: 'Put', kv: null, prev_kv: null };
  while (r.pos < r.end) {
    const tag = r.uint32();
    switch (tag) {
      case 0x08: {
        const type = r.uint32();
        // An enum value this decoder does not know: proto-loader gives the number.
        ev.type = type === 0 ? 'Put' : type === 1 ? 'Delete' : (type as unknown as 'Put');
        break;
      }
      case 0x12:
        r.delimited();
        ev.kv = r.nested(keyValue);
        break;
      case 0x1a:
        r.delimited();
        ev.prev_kv = r.nested(keyValue);
        break;
      default:
        r.skip(tag & 7);
    }
  }
  return ev;
}

function header(r: WireReader): NonNullable<DecodedWatchResponse['header']> {
  const h = { cluster_id: '0', member_id: '0', revision: '0', raft_term: '0' };
  while (r.pos < r.end) {
    const tag = r.uint32();
    switch (tag) {
      case 0x08:
        h.cluster_id = r.long(false);
        break;
      case 0x10:
        h.member_id = r.long(false);
        break;
      case 0x18:
        h.revision = r.long(true);
        break;
      case 0x20:
        h.raft_term = r.long(false);
        break;
      default:
        r.skip(tag & 7);
    }
  }
  return h;
}

/** Decodes one WatchResponse message (what etcd3's watch stream emits as `data`). */
export function decodeWatchResponse(buf: Buffer): DecodedWatchResponse {
  const r = new WireReader(buf, 'watch response');
  const res: DecodedWatchResponse = {
    header: null,
    watch_id: '0',
    created: false,
    canceled: false,
    compact_revision: '0',
    cancel_reason: '',
    fragment: false,
    events: [],
  };
  while (r.pos < r.end) {
    const tag = r.uint32();
    switch (tag) {
      case 0x0a:
        r.delimited();
        res.header = r.nested(header);
        break;
      case 0x10:
        res.watch_id = r.long(true);
        break;
      case 0x18:
        res.created = r.uint32() !== 0;
        break;
      case 0x20:
        res.canceled = r.uint32() !== 0;
        break;
      case 0x28:
        res.compact_revision = r.long(true);
        break;
      case 0x32:
        r.delimited();
        res.cancel_reason = buf.toString('utf8', r.start, r.stop);
        break;
      case 0x38:
        res.fragment = r.uint32() !== 0;
        break;
      case 0x5a:
        r.delimited();
        res.events.push(r.nested(event));
        break;
      default:
        r.skip(tag & 7);
    }
  }
  return res;
}

interface WatchMethod {
  (...args: unknown[]): unknown;
  path: string;
  requestSerialize: (value: unknown) => Buffer;
}

interface WatchServiceClient {
  watch: WatchMethod;
  makeBidiStreamRequest(path: string, serialize: (value: unknown) => Buffer, deserialize: (buf: Buffer) => unknown, ...rest: unknown[]): unknown;
}

const PATCHED = Symbol('cluster.fastWatchDecoder');

/**
 * Makes `client`'s watch streams decode with decodeWatchResponse. etcd3 creates one gRPC
 * client per service and member (`pool.hosts[i].getServiceClient('Watch')`); the Watch one's
 * `watch` method is given this deserializer instead of proto-loader's. Not part of etcd3's
 * typed API: a version without those shapes keeps its own decoder (returns false).
 */
export function useFastWatchDecoder(client: Etcd3): boolean {
  const hosts = (client as unknown as { pool?: { hosts?: Array<{ getServiceClient?: (name: string) => unknown }> } }).pool?.hosts;
  if (!Array.isArray(hosts) || hosts.length === 0) return false;
  if (!hosts.every((h) => typeof h.getServiceClient === 'function')) return false;
  for (const host of hosts) {
    const get = host.getServiceClient!;
    host.getServiceClient = function (this: unknown, name: string) {
      const service = get.call(this, name);
      if (name === 'Watch') patchWatch(service as WatchServiceClient);
      return service;
    };
  }
  return true;
}

function patchWatch(service: WatchServiceClient & { [PATCHED]?: true }): void {
  if (service[PATCHED]) return;
  const original = service.watch;
  if (typeof original !== 'function' || typeof original.path !== 'string' || typeof original.requestSerialize !== 'function') return;
  if (typeof service.makeBidiStreamRequest !== 'function') return;
  const { path, requestSerialize } = original;
  service.watch = function (this: WatchServiceClient, ...args: unknown[]) {
    return this.makeBidiStreamRequest(path, requestSerialize, decodeWatchResponse, ...args);
  } as WatchMethod;
  service[PATCHED] = true;
}
