import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SpawnPacer } from '../../agent/spawn-pacer';

/** Busy-waits `ms` (a synchronous spawn stands in for this). */
function burn(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) { /* spin */ }
}

describe('spawn pacer', () => {
  it('runs every job once, in order, and passes results and errors through', async () => {
    const pacer = new SpawnPacer(5);
    const order: number[] = [];
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => pacer.run(() => (order.push(i), i * 2))));
    assert.deepEqual(order, Array.from({ length: 20 }, (_, i) => i));
    assert.deepEqual(results, order.map((i) => i * 2));
    await assert.rejects(pacer.run(() => { throw new Error('spawn E2BIG'); }), /E2BIG/);
    assert.equal(pacer.waiting, 0);
  });

  it('lets timers run between slices of a burst that would block the loop for long', async () => {
    const pacer = new SpawnPacer(10);
    // 100 starts of 5 ms each: 500 ms in one turn without pacing (the bound leaves room for a busy machine).
    let ticks = 0;
    let longestGap = 0;
    let last = performance.now();
    const timer = setInterval(() => {
      const now = performance.now();
      longestGap = Math.max(longestGap, now - last);
      last = now;
      ticks++;
    }, 1);
    await Promise.all(Array.from({ length: 100 }, () => pacer.run(() => burn(5))));
    clearInterval(timer);
    assert.ok(ticks >= 20, `timers ran ${ticks} times during the burst`);
    assert.ok(longestGap < 250, `the longest stall was ${longestGap.toFixed(0)} ms (a whole burst would be 500 ms)`);
  });

  it('runSoon: at once while the turn has budget, then in later turns, and behind jobs already waiting', async () => {
    const pacer = new SpawnPacer(10);
    const order: string[] = [];
    pacer.runSoon(() => order.push('first'));
    assert.deepEqual(order, ['first'], 'nothing waits: run in the same turn');
    pacer.runSoon(() => burn(12));
    pacer.runSoon(() => order.push('over budget'));
    assert.deepEqual(order, ['first'], 'the turn spent its budget: the next one waits');
    await new Promise<void>((resolve) => pacer.runSoon(resolve));
    assert.deepEqual(order, ['first', 'over budget'], 'run in a later turn, in order');

    await new Promise((resolve) => setImmediate(resolve)); // a new turn: budget again
    const queued = pacer.run(() => order.push('queued'));
    pacer.runSoon(() => order.push('behind it'));
    assert.equal(order.length, 2, 'a job waits: runSoon queues behind it');
    await queued;
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(order.slice(2), ['queued', 'behind it']);
  });

  it('tryRunNow: runs now and says so while the turn has budget and nothing waits, else runs nothing', async () => {
    const pacer = new SpawnPacer(10);
    const order: string[] = [];
    assert.equal(pacer.tryRunNow(() => order.push('now')), true);
    assert.deepEqual(order, ['now']);
    assert.equal(pacer.tryRunNow(() => burn(12)), true, 'within budget when it started');
    assert.equal(pacer.tryRunNow(() => order.push('over budget')), false, 'the turn spent its budget');
    assert.deepEqual(order, ['now'], 'nothing ran');

    await new Promise((resolve) => setImmediate(resolve)); // a new turn: budget again
    const queued = pacer.run(() => order.push('queued'));
    assert.equal(pacer.tryRunNow(() => order.push('ahead of the queue')), false, 'a job waits: not ahead of it');
    await queued;
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(pacer.tryRunNow(() => order.push('later')), true);
    assert.deepEqual(order, ['now', 'queued', 'later']);
  });
});

