/** waitFor, the one polling helper of tests and benchmarks (docs/testing.md). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { waitFor, WaitTimeoutError } from '../helpers/wait-for';

describe('waitFor', () => {
  it('resolves to the first truthy value, polling until then', async () => {
    let calls = 0;
    const value = await waitFor('the third call', () => (++calls >= 3 ? { calls } : undefined), 5_000, 1);
    assert.deepEqual(value, { calls: 3 });
  });

  it('counts a throw as "not yet" and goes on polling', async () => {
    let calls = 0;
    const value = await waitFor('a call that stops throwing', () => {
      if (++calls < 3) throw new Error('not ready');
      return 'ready';
    }, { timeoutMs: 5_000, intervalMs: 1 });
    assert.equal(value, 'ready');
  });

  it('times out naming what it waited for and the last value', async () => {
    const err = await waitFor('the count to reach 5', () => 0, 30, 5).catch((e: unknown) => e);
    assert.ok(err instanceof WaitTimeoutError);
    assert.match(err.message, /^timed out after 30 ms waiting for: the count to reach 5 \(last value: 0\)$/);
  });

  it('times out naming the last error when the condition last threw', async () => {
    let calls = 0;
    const err = await waitFor('a server', () => {
      throw new Error(`ECONNREFUSED ${++calls}`);
    }, 30, 5).catch((e: unknown) => e);
    assert.ok(err instanceof WaitTimeoutError);
    assert.match(err.message, new RegExp(`waiting for: a server \\(last error: ECONNREFUSED ${calls}\\)$`));
  });

  it("adds describe()'s summary of what the condition last saw", async () => {
    const err = await waitFor('3 instances up', () => false, { timeoutMs: 30, intervalMs: 5, describe: () => 'last ps: web.1:starting' }).catch((e: unknown) => e);
    assert.ok(err instanceof WaitTimeoutError);
    assert.match(err.message, /waiting for: 3 instances up \(last ps: web\.1:starting\)$/);
  });
});
