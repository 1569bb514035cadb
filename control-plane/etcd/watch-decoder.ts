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
import { WireReader } from '../../proto/wire';
import { decodeHeader, decodeKeyValue, type DecodedHeader, type DecodedKeyValue } from './wire-records';

export interface DecodedEvent {
  type: 'Put' | 'Delete';
  kv: DecodedKeyValue | null;
  prev_kv: DecodedKeyValue | null;
}

export interface DecodedWatchResponse {
  header: DecodedHeader | null;
  watch_id: string;
  created: boolean;
  canceled: boolean;
  compact_revision: string;
  cancel_reason: string;
  fragment: boolean;
  events: DecodedEvent[];
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
        ev.kv = r.nested(decodeKeyValue);
        break;
      case 0x1a:
        r.delimited();
        ev.prev_kv = r.nested(decodeKeyValue);
        break;
      default:
        r.skip(tag & 7);
    }
  }
  return ev;
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
        res.header = r.nested(decodeHeader);
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
