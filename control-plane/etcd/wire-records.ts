/**
 * The records etcd's responses share (ResponseHeader, mvccpb.KeyValue), read from the wire into
 * the plain objects etcd3's own decoder gives (proto-loader over etcd3's rpc.proto with `longs:
 * String, enums: String, defaults: true, oneofs: true`). Used by watch-decoder.ts and
 * kv-decoders.ts; why they exist: docs/stack-notes.md, "etcd3".
 */
import type { WireReader } from '../../proto/wire';

export interface DecodedKeyValue {
  key: Buffer;
  create_revision: string;
  mod_revision: string;
  version: string;
  value: Buffer;
  lease: string;
}

export interface DecodedHeader {
  cluster_id: string;
  member_id: string;
  revision: string;
  raft_term: string;
}

const EMPTY = Buffer.alloc(0);

/** A KeyValue; `key` and `value` are views into the received message, as protobufjs gives them. */
export function decodeKeyValue(r: WireReader): DecodedKeyValue {
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

export function decodeHeader(r: WireReader): DecodedHeader {
  const h: DecodedHeader = { cluster_id: '0', member_id: '0', revision: '0', raft_term: '0' };
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

/**
 * Headers of one message read once: a transaction's answer repeats the same header in each of
 * its operations' answers (2,048 of them in a chunk of the leader's plan), so a header whose
 * bytes equal the last one's is given as that same object. Nothing reads them to change them.
 */
export class HeaderMemo {
  private last: { buf: Buffer; start: number; end: number; header: DecodedHeader } | undefined;
  private readonly readNested = (r: WireReader) => this.read(r);

  /** The header field just tagged in `r` (length-delimited), read or remembered. */
  field(r: WireReader): DecodedHeader {
    r.delimited();
    return r.nested(this.readNested);
  }

  /** The header in `r`'s current bounds (a nested message), read or remembered. */
  read(r: WireReader): DecodedHeader {
    const last = this.last;
    if (last && last.end - last.start === r.end - r.pos && r.buf.compare(last.buf, last.start, last.end, r.pos, r.end) === 0) {
      r.pos = r.end;
      return last.header;
    }
    const start = r.pos;
    const end = r.end;
    const header = decodeHeader(r);
    this.last = { buf: r.buf, start, end, header };
    return header;
  }
}
