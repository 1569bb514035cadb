/**
 * control-plane/etcd/watch-decoder.ts gives what etcd3's own decoder (proto-loader over etcd3's
 * rpc.proto, with etcd3's options) gives, for every field of a WatchResponse.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeWatchResponse } from '../../control-plane/etcd/watch-decoder';
import { etcdService } from '../helpers/etcd3-protocol';

const watch = etcdService('Watch').Watch!;
const reference = (buf: Buffer) => watch.responseDeserialize(buf);
const encodeResponse = (value: unknown) => watch.responseSerialize(value);

function check(value: unknown): void {
  const bytes = encodeResponse(value);
  assert.deepStrictEqual(decodeWatchResponse(bytes), reference(bytes));
}

describe('watch response decoder', () => {
  it('decodes puts and deletes with their revisions, leases and values as etcd3 does', () => {
    check({
      header: { cluster_id: '14841639068965178418', member_id: '10276657743932975437', revision: '123456', raft_term: '7' },
      watch_id: '3',
      events: [
        { type: 'Put', kv: { key: Buffer.from('/cluster/assignments/a/shop/web.1'), create_revision: '100', mod_revision: '123456', version: '4', value: Buffer.from('{"x":1}'), lease: '7587887316470210329' } },
        { type: 'Delete', kv: { key: Buffer.from('/cluster/status/shop/web.1/a'), mod_revision: '123457' } },
        { type: 'Put', kv: { key: Buffer.from('k'), value: Buffer.from('ünïcode ✓'), create_revision: '9007199254740993', mod_revision: '9007199254740992' }, prev_kv: { key: Buffer.from('k'), value: Buffer.from('old'), version: '1' } },
      ],
    });
  });

  it('decodes created, canceled, compacted and fragment responses, and empty ones', () => {
    check({ header: { revision: '5' }, watch_id: '0', created: true });
    check({ watch_id: '12', canceled: true, compact_revision: '42', cancel_reason: 'mvcc: required revision has been compacted' });
    check({ header: { revision: '1' }, fragment: true, events: [{ type: 'Put', kv: { key: Buffer.from('a'), value: Buffer.alloc(0) } }] });
    check({});
    check({ events: [{ type: 'Put' }] });
  });

  it('decodes negative and 64-bit extremes exactly', () => {
    check({ watch_id: '-1', compact_revision: '9223372036854775807', header: { cluster_id: '18446744073709551615', revision: '-9223372036854775808' } });
    check({ events: [{ kv: { key: Buffer.from('x'), lease: '-2', version: '4294967296', create_revision: '4294967295' } }] });
  });

  it('skips fields it does not know', () => {
    const known = encodeResponse({ watch_id: '2', events: [{ type: 'Delete', kv: { key: Buffer.from('z') } }] });
    // Field 15 (varint), field 16 (length-delimited) and field 17 (fixed64) prepended: proto3 skips them.
    const unknown = Buffer.from([0x78, 0x96, 0x01, 0x82, 0x01, 0x02, 0x68, 0x69, 0x89, 0x01, 1, 2, 3, 4, 5, 6, 7, 8]);
    const bytes = Buffer.concat([unknown, known]);
    assert.deepStrictEqual(decodeWatchResponse(bytes), reference(bytes));
  });

  it('gives key and value as views into the message, as protobufjs does', () => {
    const bytes = encodeResponse({ events: [{ type: 'Put', kv: { key: Buffer.from('key'), value: Buffer.from('value') } }] });
    const kv = decodeWatchResponse(bytes).events[0]!.kv!;
    assert.equal(kv.value.toString(), 'value');
    assert.equal(kv.value.buffer, bytes.buffer);
  });

  it('refuses a truncated message instead of reading past it', () => {
    const bytes = encodeResponse({ events: [{ type: 'Put', kv: { key: Buffer.from('key'), value: Buffer.from('value') } }] });
    assert.throws(() => decodeWatchResponse(bytes.subarray(0, bytes.length - 2)), RangeError);
  });
});
