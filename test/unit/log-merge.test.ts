import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compareLines, mergedTail } from '../../control-plane/logs/merge';
import type { LogLine__Output } from '../../proto/gen/cluster/logs/LogLine';

const line = (time_ms: number, seq: number, instance: string, host = 'h'): LogLine__Output => ({
  time_ms, seq, instance, host, app: 'a', stream: 'stdout', text: `${instance}@${time_ms}/${seq}`, cut: false,
});

describe('merging history from several hosts', () => {
  it('orders by time, then sequence, then instance', () => {
    const lines = [line(5, 1, 'web.1'), line(3, 9, 'worker.2'), line(3, 2, 'worker.1'), line(3, 2, 'clock.1')];
    assert.deepEqual(lines.sort(compareLines).map((l) => l.text), ['clock.1@3/2', 'worker.1@3/2', 'worker.2@3/9', 'web.1@5/1']);
  });

  it('applies -n to the merged result, not per host', () => {
    const hostA = [1, 4, 7, 10].map((t) => line(t, t, 'web.1', 'a'));
    const hostB = [2, 3, 8, 9].map((t) => line(t, t, 'worker.1', 'b'));
    assert.deepEqual(mergedTail([...hostA, ...hostB], 3).map((l) => l.time_ms), [8, 9, 10]);
    assert.deepEqual(mergedTail([...hostB, ...hostA], 0), []);
    assert.equal(mergedTail([...hostA, ...hostB], 100).length, 8);
  });
});
