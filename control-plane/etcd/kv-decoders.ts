/**
 * Decoders for the answers of etcd's Txn and Range calls and of lease keepalives that give
 * exactly what etcd3's own decoder gives (watch-decoder.ts says why: proto-loader turns every
 * 64-bit integer into a Long and then into a string, and copies each message twice).
 *
 * A chunk of the leader's plan is one transaction of up to 2,048 writes, and etcd answers each
 * write with its own header of four 64-bit integers: 100k assignments placed were 400k Long
 * conversions and 300k short-lived objects on the control plane, for answers nobody reads but
 * the revision. A new leader's first read of 100k assignments or statuses is one Range answer.
 * And every agent's lease is renewed each second (1,000 keepalive answers a second).
 */
import { WireReader } from '../../proto/wire';
import { decodeHeader, decodeKeyValue, HeaderMemo, type DecodedHeader, type DecodedKeyValue } from './wire-records';

export interface DecodedRangeResponse {
  header: DecodedHeader | null;
  kvs: DecodedKeyValue[];
  more: boolean;
  count: string;
}

export interface DecodedPutResponse {
  header: DecodedHeader | null;
  prev_kv: DecodedKeyValue | null;
}

export interface DecodedDeleteRangeResponse {
  header: DecodedHeader | null;
  deleted: string;
  prev_kvs: DecodedKeyValue[];
}

/** One operation's answer: the member that is set, and `response` naming it (proto-loader's `oneofs`). */
export type DecodedResponseOp =
  | { response: 'response_range'; response_range: DecodedRangeResponse }
  | { response: 'response_put'; response_put: DecodedPutResponse }
  | { response: 'response_delete_range'; response_delete_range: DecodedDeleteRangeResponse }
  | { response: 'response_txn'; response_txn: DecodedTxnResponse }
  | Record<string, never>;

export interface DecodedTxnResponse {
  header: DecodedHeader | null;
  succeeded: boolean;
  responses: DecodedResponseOp[];
}

export interface DecodedLeaseKeepAliveResponse {
  header: DecodedHeader | null;
  ID: string;
  TTL: string;
}

function range(r: WireReader, headers: HeaderMemo): DecodedRangeResponse {
  const res: DecodedRangeResponse = { header: null, kvs: [], more: false, count: '0' };
  while (r.pos < r.end) {
    const tag = r.uint32();
    switch (tag) {
      case 0x0a:
        res.header = headers.field(r);
        break;
      case 0x12:
        r.delimited();
        res.kvs.push(r.nested(decodeKeyValue));
        break;
      case 0x18:
        res.more = r.uint32() !== 0;
        break;
      case 0x20:
        res.count = r.long(true);
        break;
      default:
        r.skip(tag & 7);
    }
  }
  return res;
}

function put(r: WireReader, headers: HeaderMemo): DecodedPutResponse {
  const res: DecodedPutResponse = { header: null, prev_kv: null };
  while (r.pos < r.end) {
    const tag = r.uint32();
    switch (tag) {
      case 0x0a:
        res.header = headers.field(r);
        break;
      case 0x12:
        r.delimited();
        res.prev_kv = r.nested(decodeKeyValue);
        break;
      default:
        r.skip(tag & 7);
    }
  }
  return res;
}

function deleteRange(r: WireReader, headers: HeaderMemo): DecodedDeleteRangeResponse {
  const res: DecodedDeleteRangeResponse = { header: null, deleted: '0', prev_kvs: [] };
  while (r.pos < r.end) {
    const tag = r.uint32();
    switch (tag) {
      case 0x0a:
        res.header = headers.field(r);
        break;
      case 0x10:
        res.deleted = r.long(true);
        break;
      case 0x1a:
        r.delimited();
        res.prev_kvs.push(r.nested(decodeKeyValue));
        break;
      default:
        r.skip(tag & 7);
    }
  }
  return res;
}

function responseOp(r: WireReader, headers: HeaderMemo): DecodedResponseOp {
  // etcd sets one member; were there several, the last would count.
  let op: DecodedResponseOp = {};
  while (r.pos < r.end) {
    const tag = r.uint32();
    switch (tag) {
      case 0x0a:
        r.delimited();
        op = { response_range: r.nested((n) => range(n, headers)), response: 'response_range' };
        break;
      case 0x12:
        r.delimited();
        op = { response_put: r.nested((n) => put(n, headers)), response: 'response_put' };
        break;
      case 0x1a:
        r.delimited();
        op = { response_delete_range: r.nested((n) => deleteRange(n, headers)), response: 'response_delete_range' };
        break;
      case 0x22:
        r.delimited();
        op = { response_txn: r.nested((n) => txn(n, headers)), response: 'response_txn' };
        break;
      default:
        r.skip(tag & 7);
    }
  }
  return op;
}

function txn(r: WireReader, headers: HeaderMemo): DecodedTxnResponse {
  const res: DecodedTxnResponse = { header: null, succeeded: false, responses: [] };
  while (r.pos < r.end) {
    const tag = r.uint32();
    switch (tag) {
      case 0x0a:
        res.header = headers.field(r);
        break;
      case 0x10:
        res.succeeded = r.uint32() !== 0;
        break;
      case 0x1a:
        r.delimited();
        res.responses.push(r.nested((n) => responseOp(n, headers)));
        break;
      default:
        r.skip(tag & 7);
    }
  }
  return res;
}

/** Decodes one TxnResponse (the answer of etcd3's `kv.txn`). */
export function decodeTxnResponse(buf: Buffer): DecodedTxnResponse {
  return txn(new WireReader(buf, 'txn response'), new HeaderMemo());
}

/** Decodes one RangeResponse (the answer of etcd3's `kv.range`). */
export function decodeRangeResponse(buf: Buffer): DecodedRangeResponse {
  return range(new WireReader(buf, 'range response'), new HeaderMemo());
}

/** Decodes one LeaseKeepAliveResponse (what a keepalive stream emits as `data`). */
export function decodeLeaseKeepAliveResponse(buf: Buffer): DecodedLeaseKeepAliveResponse {
  const r = new WireReader(buf, 'lease keepalive response');
  const res: DecodedLeaseKeepAliveResponse = { header: null, ID: '0', TTL: '0' };
  while (r.pos < r.end) {
    const tag = r.uint32();
    switch (tag) {
      case 0x0a:
        r.delimited();
        res.header = r.nested(decodeHeader);
        break;
      case 0x10:
        res.ID = r.long(true);
        break;
      case 0x18:
        res.TTL = r.long(true);
        break;
      default:
        r.skip(tag & 7);
    }
  }
  return res;
}
