import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { conflictPauseMs, jittered, RetryDelay } from '../../lib/retry-delay';

describe('retry delays with jitter (lib/retry-delay.ts)', () => {
  it('grows about exponentially, stays under its cap, and differs between callers', () => {
    const runs = Array.from({ length: 200 }, () => {
      const delay = new RetryDelay({ initialMs: 100, maxMs: 1_000 });
      return Array.from({ length: 8 }, () => delay.next());
    });
    for (const run of runs) for (const ms of run) assert.ok(ms >= 0 && ms <= 1_000, `${ms} ms`);
    const mean = (i: number) => runs.reduce((sum, run) => sum + run[i]!, 0) / runs.length;
    assert.ok(mean(3) > mean(0), `later delays are longer on average (${mean(0)} → ${mean(3)})`);
    assert.ok(new Set(runs.map((run) => run[1])).size > 50, 'callers that fail together wait different times');
  });

  it('starts over after reset()', () => {
    const delay = new RetryDelay({ initialMs: 100, maxMs: 100_000 });
    for (let i = 0; i < 10; i++) delay.next();
    delay.reset();
    assert.ok(delay.next() <= 200, 'the first delay again');
  });

  it('spreads a fixed delay over ±20 %', () => {
    const values = Array.from({ length: 500 }, () => jittered(1_000));
    assert.ok(values.every((v) => v >= 800 && v <= 1_200));
    assert.ok(Math.min(...values) < 900 && Math.max(...values) > 1_100, 'uses the whole range');
  });

  it('pauses a lost read-modify-write within a window that grows per attempt', () => {
    for (let attempt = 0; attempt < 20; attempt++) {
      const ms = conflictPauseMs(attempt);
      assert.ok(ms >= 0 && ms <= 5 * (attempt + 1));
    }
  });
});
