import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { batchesOf, forReader, linesOf } from '../../control-plane/logs/batch-forwarding';
import { packLines, unpackLines } from '../../lib/log-packing';
import type { LogBatch__Output } from '../../proto/gen/cluster/logs/LogBatch';

const packed = packLines([
  { timeMs: 10, seq: 1, instance: 'web.1', stream: 'stdout', text: 'one', cut: false },
  { timeMs: 11, seq: 2, instance: 'web.2', stream: 'stderr', text: 'two', cut: true },
]);
const agentBatch = (over: Partial<LogBatch__Output>): LogBatch__Output => ({ lines: [], history_done: false, warnings: [], packed: Buffer.alloc(0), app: '', host: '', history_lines: 0, ...over });

describe('log batch forwarding', () => {
  it('passes a packed batch to a packed reader untouched (the same bytes), with the host', () => {
    const out = forReader(agentBatch({ packed, app: 'shop' }), 'shop', 'host-a', true);
    assert.equal(out?.packed, packed, 'not decoded and packed again');
    assert.equal(out?.host, 'host-a');
    assert.equal(out?.app, 'shop');
  });

  it('decodes for an old reader, and packs an old agent\'s lines for a new one', () => {
    const old = forReader(agentBatch({ packed }), 'shop', 'host-a', false);
    assert.deepEqual(old?.lines?.map((l) => [l.text, l.host, l.app, l.cut]), [['one', 'host-a', 'shop', false], ['two', 'host-a', 'shop', true]]);
    const lines = unpackLines(packed, 'shop', '');
    const fromOldAgent = forReader(agentBatch({ lines }), 'shop', 'host-b', true);
    assert.deepEqual(unpackLines(fromOldAgent!.packed as Buffer, 'shop', 'host-b').map((l) => [l.text, l.host]), [['one', 'host-b'], ['two', 'host-b']]);
    assert.equal(forReader(agentBatch({}), 'shop', 'h', true), undefined, 'an empty batch sends nothing');
  });

  it('packs merged history into one batch per run of one host', () => {
    const a = linesOf(agentBatch({ packed }), 'shop', 'a');
    const b = linesOf(agentBatch({ packed }), 'shop', 'b');
    const merged = [a[0]!, b[0]!, b[1]!, a[1]!];
    const batches = batchesOf(merged, 'shop', true);
    assert.deepEqual(batches.map((x) => x.host), ['a', 'b', 'a']);
    assert.deepEqual(batches.flatMap((x) => unpackLines(x.packed as Buffer, 'shop', x.host!).map((l) => `${l.host}:${l.text}`)), ['a:one', 'b:one', 'b:two', 'a:two']);
    assert.equal(batchesOf(merged, 'shop', false)[0]!.lines!.length, 4);
  });
});
