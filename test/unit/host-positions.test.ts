import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HostPositions } from '../../lib/host-positions';
import { packLines } from '../../lib/log-packing';
import type { LogBatch__Output } from '../../proto/gen/cluster/logs/LogBatch';

function packed(host: string, seqs: number[]): LogBatch__Output {
  const bytes = packLines(seqs.map((seq) => ({ timeMs: 1, seq, instance: 'web.1', stream: 'stdout', text: 'x', cut: false })));
  return { lines: [], history_done: false, warnings: [], packed: bytes, app: 'shop', host, history_lines: 0 };
}

/** A whole LogBatch, as the control plane and the CLI receive it. */
const batch = (b: LogBatch__Output): LogBatch__Output => b;

describe('host positions', () => {
  it('knows the last seq the reader has of each host, packed or not, never going back', () => {
    const positions = new HostPositions();
    positions.noteBatch(packed('a', [5, 6, 7]));
    positions.noteBatch(packed('b', [100]));
    positions.noteBatch(packed('a', [3])); // merged history may show an older batch of a host later
    positions.noteBatch(batch({ ...packed('', []), packed: Buffer.alloc(0), lines: [{ time_ms: 1, seq: 9, app: 'shop', instance: 'web.1', stream: 'stdout', text: 'x', cut: false, host: 'c' }] }));
    positions.noteBatch(batch({ ...packed('d', []), warnings: ['w'] })); // no lines: nothing known of d
    assert.deepEqual(positions.list().sort((x, y) => String(x.host).localeCompare(String(y.host))), [{ host: 'a', seq: 7 }, { host: 'b', seq: 100 }, { host: 'c', seq: 9 }]);
  });
});
