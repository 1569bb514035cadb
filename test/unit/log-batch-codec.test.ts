/**
 * The hand-written LogBatch codec (proto/log-batch-codec.ts) speaks the same wire format as
 * protobufjs: what one writes the other reads, field for field, and batches with `lines` are
 * left to protobufjs.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import * as protoLoader from '@grpc/proto-loader';
import { decodePackedBatch, encodePackedBatch, Scratch } from '../../proto/log-batch-codec';
import { CONVERSION_OPTIONS, apiProto } from '../../proto/load';
import type { LogBatch } from '../../proto/gen/cluster/logs/LogBatch';

const PROTO_DIR = path.resolve(__dirname, '..', '..', '..', 'proto');
/** protobufjs's own codec of the same message (through proto-loader, from the .proto text). */
const reference = (() => {
  const def = protoLoader.loadSync('api.proto', { keepCase: true, ...CONVERSION_OPTIONS, includeDirs: [PROTO_DIR] });
  const logs = (def['cluster.api.ClusterApi'] as protoLoader.ServiceDefinition).Logs!;
  return { encode: (b: LogBatch) => logs.responseSerialize(b), decode: (buf: Buffer) => logs.responseDeserialize(buf) as object };
})();

const BATCHES: Array<[string, LogBatch]> = [
  ['packed lines, app and host', { packed: Buffer.from('1\t2\to\tweb.1\thello\tworld\n3\t4\tE\tweb.2\tünïcødé ✓\n'), app: 'shop', host: 'host-a' }],
  ['the end of history with warnings', { history_done: true, warnings: ['host b cannot be reached: ✗', ''] }],
  ['a long batch (multi-byte lengths)', { packed: Buffer.alloc(300_000, 0x61), app: 'a'.repeat(200), host: 'h', history_done: true }],
  ['a streamed history\'s first batch, with its count of lines', { packed: Buffer.from('1\t2\to\tweb.1\tx\n'), app: 'a', host: 'h', history_lines: 150_000 }],
  ['nothing at all', {}],
];

describe('LogBatch codec', () => {
  for (const [name, batch] of BATCHES) {
    it(`writes what protobufjs reads, and reads what it writes: ${name}`, () => {
      const ours = encodePackedBatch(batch)!;
      assert.ok(ours instanceof Buffer);
      assert.deepEqual(ours, reference.encode(batch), 'the same bytes as protobufjs');
      assert.deepEqual(decodePackedBatch(reference.encode(batch)), reference.decode(reference.encode(batch)));
    });
  }

  it('hands the packed bytes on as a view of the received message, not a copy', () => {
    const wire = encodePackedBatch({ packed: Buffer.from('1\t2\to\tweb.1\tx\n'), app: 'a', host: 'h' })!;
    const decoded = decodePackedBatch(wire)!;
    assert.equal(decoded.packed.buffer, wire.buffer);
    assert.equal(decoded.packed.toString(), '1\t2\to\tweb.1\tx\n');
  });

  it('skips fields it does not know (a newer sender), of every wire type', () => {
    const known = encodePackedBatch({ packed: Buffer.from('p'), app: 'a', host: 'h' })!;
    const unknown = Buffer.from([
      (41 << 3) | 0, 0x96, 0x01, // varint 150
      (42 << 3) | 2, 2, 0x68, 0x69, // bytes "hi"
      (43 << 3) | 1, 1, 2, 3, 4, 5, 6, 7, 8, // fixed64
      (44 << 3) | 5, 1, 2, 3, 4, // fixed32
    ]);
    const decoded = decodePackedBatch(Buffer.concat([unknown, known]))!;
    assert.deepEqual({ ...decoded, packed: decoded.packed.toString() }, { lines: [], history_done: false, warnings: [], packed: 'p', app: 'a', host: 'h', history_lines: 0 });
  });

  it('leaves batches with lines to protobufjs, which the services then use', () => {
    const batch: LogBatch = { lines: [{ time_ms: 5, seq: 6, app: 'a', instance: 'web.1', stream: 'stdout', text: 't', cut: false, host: 'h' }], history_done: true };
    assert.equal(encodePackedBatch(batch), undefined);
    assert.equal(decodePackedBatch(reference.encode(batch)), undefined);
    const logs = apiProto().ClusterApi.service.Logs!;
    const wire = logs.responseSerialize(batch);
    assert.deepEqual(wire, reference.encode(batch));
    assert.deepEqual(logs.responseDeserialize(wire), reference.decode(wire));
  });

  it('the services use it for packed batches', () => {
    const logs = apiProto().ClusterApi.service.Logs!;
    const batch = { packed: Buffer.from('1\t2\to\tweb.1\tx\n'), app: 'a', host: 'h' };
    assert.deepEqual(logs.responseSerialize(batch), encodePackedBatch(batch));
    const decoded = logs.responseDeserialize(logs.responseSerialize(batch)) as { packed: Buffer };
    assert.equal(decoded.packed.toString(), '1\t2\to\tweb.1\tx\n');
  });

  it('writes into a scratch buffer reused from one message to the next, up to its bound', () => {
    const scratch = new Scratch(256 * 1024);
    const a = encodePackedBatch({ packed: Buffer.from('first'), app: 'a', host: 'h' }, scratch)!;
    assert.deepEqual(a, encodePackedBatch({ packed: Buffer.from('first'), app: 'a', host: 'h' }));
    const b = encodePackedBatch({ packed: Buffer.from('second'), app: 'a', host: 'h' }, scratch)!;
    assert.equal(b.buffer, a.buffer, 'the same memory');
    assert.deepEqual(decodePackedBatch(b)!.packed.toString(), 'second');
    const big = encodePackedBatch({ packed: Buffer.alloc(300 * 1024, 0x62) }, scratch)!;
    assert.notEqual(big.buffer, a.buffer, 'a message beyond the bound gets its own buffer');
    assert.equal(decodePackedBatch(big)!.packed.length, 300 * 1024);
  });

  it('refuses bytes that are not a LogBatch', () => {
    const wire = encodePackedBatch({ packed: Buffer.from('abcdef'), app: 'a' })!;
    assert.throws(() => decodePackedBatch(wire.subarray(0, 4)), /runs past the end/);
    assert.throws(() => decodePackedBatch(Buffer.from([0x80])), /varint runs past the end/);
    assert.throws(() => decodePackedBatch(Buffer.from([(45 << 3) | 3])), /unexpected wire type 3/);
  });
});
