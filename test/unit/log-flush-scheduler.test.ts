import assert from 'node:assert/strict';
import { setImmediate as nextTick } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { FlushScheduler } from '../../agent/logs/flush-scheduler';

function writer(name: string, kicked: string[]) {
  return { dirty: false, kick: () => kicked.push(name) };
}

describe('flush scheduler', () => {
  it('kicks every writer marked in one turn once, at the end of that turn, and clears its flag', async () => {
    const kicked: string[] = [];
    const flushes = new FlushScheduler();
    const a = writer('a', kicked);
    const b = writer('b', kicked);
    flushes.markDirty(a);
    flushes.markDirty(b);
    assert.equal(a.dirty, true);
    assert.equal(b.dirty, true);
    assert.deepEqual(kicked, [], 'nothing is written before the turn ends');
    await nextTick();
    assert.deepEqual(kicked, ['a', 'b']);
    assert.equal(a.dirty, false);
    assert.equal(b.dirty, false);
    // A later turn is scheduled anew.
    flushes.markDirty(a);
    await nextTick();
    assert.deepEqual(kicked, ['a', 'b', 'a']);
  });

  it('a writer marked while the list is being kicked waits for the next turn', async () => {
    const kicked: string[] = [];
    const flushes = new FlushScheduler();
    const b = writer('b', kicked);
    const a = { dirty: false, kick: () => { kicked.push('a'); flushes.markDirty(b); } };
    flushes.markDirty(a);
    await nextTick();
    assert.deepEqual(kicked, ['a']);
    assert.equal(b.dirty, true);
    await nextTick();
    assert.deepEqual(kicked, ['a', 'b']);
  });

  it('schedules nothing once stopped, even what was marked before', async () => {
    const kicked: string[] = [];
    const flushes = new FlushScheduler();
    flushes.markDirty(writer('a', kicked));
    flushes.stop();
    const late = writer('late', kicked);
    flushes.markDirty(late);
    assert.equal(late.dirty, false);
    await nextTick();
    await nextTick();
    assert.deepEqual(kicked, []);
  });
});
