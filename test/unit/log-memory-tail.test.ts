import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryTail } from '../../agent/logs/memory-tail';
import type { LogLine } from '../../agent/logs/log-line';

const line = (i: number, text = `l${i}`): LogLine => ({ timeMs: i, seq: i, app: 'a', instance: 'web.1', stream: 'stdout', text, cut: false });

describe('MemoryTail', () => {
  it('answers from memory while it holds every line, and only then', () => {
    const tail = new MemoryTail(10, 1000, true);
    for (let i = 0; i < 5; i++) tail.add(line(i));
    assert.deepEqual(tail.last(100)?.map((l) => l.seq), [0, 1, 2, 3, 4], 'complete: fewer lines than asked is the whole history');
    for (let i = 5; i < 15; i++) tail.add(line(i));
    assert.equal(tail.complete, false);
    assert.deepEqual(tail.last(3)?.map((l) => l.seq), [12, 13, 14]);
    assert.equal(tail.last(11), undefined, 'older lines are on disk only');
  });

  it('is bounded by text as well as by lines', () => {
    const tail = new MemoryTail(1000, 100, true);
    for (let i = 0; i < 10; i++) tail.add(line(i, 'x'.repeat(30)));
    assert.equal(tail.length, 3);
    tail.clear();
    assert.equal(tail.length, 0);
    assert.equal(tail.last(1), undefined);
  });
});
