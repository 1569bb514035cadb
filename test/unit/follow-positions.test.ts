import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FollowPositions, RESUME_LINES } from '../../control-plane/logs/follow-positions';
import { packLines, type UnpackedLine } from '../../lib/log-packing';
import type { LogBatch__Output } from '../../proto/gen/cluster/logs/LogBatch';

const line = (seq: number, timeMs: number): UnpackedLine =>
  ({ time_ms: timeMs, seq, app: 'shop', instance: 'web.1', stream: 'stdout', text: `l${seq}`, cut: false, host: 'h' });

function packedBatch(seqs: number[]): LogBatch__Output {
  const packed = packLines(seqs.map((seq) => ({ timeMs: 1000, seq, instance: 'web.1', stream: 'stdout', text: 'x', cut: false })));
  return { lines: [], history_done: false, warnings: [], packed, app: 'shop', host: 'h', history_lines: 0 };
}

describe('follow positions', () => {
  it('cuts a host asked again after the last line forwarded from it, packed or not', () => {
    const positions = new FollowPositions(5_000);
    positions.forwarded('h', packedBatch([10, 11, 12]));
    positions.forwarded('other', { ...packedBatch([]), packed: Buffer.alloc(0), lines: [{ ...line(99, 1), host: 'other' }] });
    positions.forwardedSeq('h', 8); // an older line (merged history) does not move it back
    const cut = positions.resume('h');
    assert.deepEqual(cut.keep([line(11, 9_000), line(12, 9_000), line(13, 1), line(14, 9_000)]).map((l) => l.seq), [13, 14]);
    assert.equal(cut.mayHaveMissed(), false);
    assert.deepEqual(positions.resume('other').keep([line(99, 1), line(100, 1)]).map((l) => l.seq), [100]);
  });

  it('cuts a host nothing was forwarded from at the time the follow began', () => {
    const cut = new FollowPositions(5_000).resume('new');
    assert.deepEqual(cut.keep([line(1, 4_999), line(2, 5_000), line(3, 6_000)]).map((l) => l.seq), [2, 3]);
  });

  it('says lines may be missing only when every line asked for was new', () => {
    const all = Array.from({ length: RESUME_LINES }, (_, i) => line(100 + i, 9_000));
    const fresh = new FollowPositions(0);
    fresh.forwardedSeq('h', 50);
    const cut = fresh.resume('h');
    cut.keep(all.slice(0, 10));
    assert.equal(cut.mayHaveMissed(), false, 'fewer lines than asked for: the host had no more');
    cut.keep(all.slice(10));
    assert.equal(cut.mayHaveMissed(), true);
    const overlapping = new FollowPositions(0);
    overlapping.forwardedSeq('h', 100);
    const cut2 = overlapping.resume('h');
    cut2.keep(all);
    assert.equal(cut2.mayHaveMissed(), false, 'the first line was had already: nothing beyond');
  });
});
