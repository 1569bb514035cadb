/**
 * control-plane/etcd/kv-decoders.ts gives what etcd3's own decoder (proto-loader over etcd3's
 * rpc.proto, with etcd3's options) gives for Txn, Range and LeaseKeepAlive answers.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeLeaseKeepAliveResponse, decodeRangeResponse, decodeTxnResponse } from '../../control-plane/etcd/kv-decoders';
import { etcdService, type ReferenceMethod } from '../helpers/etcd3-protocol';

const kv = etcdService('KV');
const lease = etcdService('Lease');

function same(method: ReferenceMethod, decode: (buf: Buffer) => unknown, value: unknown): void {
  const bytes = method.responseSerialize(value);
  assert.deepStrictEqual(decode(bytes), method.responseDeserialize(bytes));
}

const header = { cluster_id: '14841639068965178418', member_id: '10276657743932975437', revision: '123456', raft_term: '7' };
const other = { ...header, revision: '123457' };
const kvOf = (key: string, extra: Record<string, unknown> = {}) => ({ key: Buffer.from(key), value: Buffer.from(`v-${key}`), mod_revision: '5', create_revision: '3', version: '2', ...extra });

describe('etcd answer decoders', () => {
  it('decode a transaction of every kind of operation as etcd3 does', () => {
    same(kv.Txn!, decodeTxnResponse, {
      header,
      succeeded: true,
      responses: [
        { response_put: { header } },
        { response_put: { header: other, prev_kv: kvOf('old', { lease: '7587887316470210329' }) } },
        { response_delete_range: { header, deleted: '2', prev_kvs: [kvOf('a'), kvOf('b')] } },
        { response_range: { header, kvs: [kvOf('k', { value: Buffer.from('ünïcode ✓') })], more: true, count: '9007199254740993' } },
        { response_txn: { header, succeeded: false, responses: [{ response_put: { header } }, { response_txn: { responses: [] } }] } },
        {},
      ],
    });
  });

  it('decode empty answers, failed transactions and 64-bit extremes as etcd3 does', () => {
    same(kv.Txn!, decodeTxnResponse, {});
    same(kv.Txn!, decodeTxnResponse, { header: { revision: '-9223372036854775808', cluster_id: '18446744073709551615' }, succeeded: false });
    same(kv.Range!, decodeRangeResponse, {});
    same(kv.Range!, decodeRangeResponse, { header, kvs: Array.from({ length: 50 }, (_, i) => kvOf(`key/${i}`, { lease: String(-i) })), count: '50' });
    same(lease.LeaseKeepAlive!, decodeLeaseKeepAliveResponse, {});
    same(lease.LeaseKeepAlive!, decodeLeaseKeepAliveResponse, { header, ID: '7587887316470210329', TTL: '4' });
    same(lease.LeaseKeepAlive!, decodeLeaseKeepAliveResponse, { ID: '-1', TTL: '-1' });
  });

  it('give the headers of one answer read once: equal bytes, one object', () => {
    const bytes = kv.Txn!.responseSerialize({ header, responses: [{ response_put: { header } }, { response_put: { header } }, { response_put: { header: other } }] });
    const res = decodeTxnResponse(bytes);
    const puts = res.responses.map((op) => ('response_put' in op ? op.response_put.header : undefined));
    assert.equal(puts[0], res.header);
    assert.equal(puts[1], res.header);
    assert.notEqual(puts[2], res.header);
    assert.equal(puts[2]!.revision, '123457');
  });

  it('give keys and values as views into the message, as protobufjs does', () => {
    const bytes = kv.Range!.responseSerialize({ kvs: [kvOf('key')] });
    const read = decodeRangeResponse(bytes).kvs[0]!;
    assert.equal(read.value.toString(), 'v-key');
    assert.equal(read.value.buffer, bytes.buffer);
  });

  it('skip fields they do not know', () => {
    const unknown = Buffer.from([0x78, 0x96, 0x01, 0x82, 0x01, 0x02, 0x68, 0x69, 0x89, 0x01, 1, 2, 3, 4, 5, 6, 7, 8]);
    const txn = Buffer.concat([unknown, kv.Txn!.responseSerialize({ header, succeeded: true, responses: [{ response_put: { header } }] })]);
    assert.deepStrictEqual(decodeTxnResponse(txn), kv.Txn!.responseDeserialize(txn));
    const range = Buffer.concat([unknown, kv.Range!.responseSerialize({ header, kvs: [kvOf('a')] })]);
    assert.deepStrictEqual(decodeRangeResponse(range), kv.Range!.responseDeserialize(range));
  });

  it('refuse a truncated answer instead of reading past it', () => {
    const txn = kv.Txn!.responseSerialize({ header, responses: [{ response_put: { header } }] });
    assert.throws(() => decodeTxnResponse(txn.subarray(0, txn.length - 3)), RangeError);
    const range = kv.Range!.responseSerialize({ kvs: [kvOf('key')] });
    assert.throws(() => decodeRangeResponse(range.subarray(0, range.length - 2)), RangeError);
  });
});
