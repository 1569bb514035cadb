/**
 * A one-off's code fetch is tried again while it fails for want of a control-plane replica
 * (UNAVAILABLE, DEADLINE_EXCEEDED), within its time in all and while the run is wanted; any
 * other failure ends it at once. A fake clock: no real pauses.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { CODE_FETCH_RETRY, fetchWithRetries, type CodeFetchRetry } from '../../agent/server/code-fetch-retry';

const failure = (code: grpc.status, message = `code ${code}`) => Object.assign(new Error(message), { code });
const RETRY: CodeFetchRetry = { totalMs: 10_000, pauseMs: () => 1_000 };

/** A fetch that fails with `errors` in turn, then answers `done`; and a fake clock its pauses move. */
function scripted(errors: Error[]) {
  let clock = 0;
  let calls = 0;
  const pauses: number[] = [];
  return {
    get calls() { return calls; },
    pauses,
    fetch: () => {
      calls++;
      const err = errors.shift();
      return err ? Promise.reject(err) : Promise.resolve('done');
    },
    hooks: (goOn = () => true) => ({
      goOn,
      onRetry: () => undefined,
      now: () => clock,
      sleep: async (ms: number) => {
        pauses.push(ms);
        clock += ms;
      },
    }),
  };
}

describe('fetchWithRetries', () => {
  it('tries again after a pause while no replica answers, and answers once one does', async () => {
    const f = scripted([failure(grpc.status.UNAVAILABLE, 'read ECONNRESET'), failure(grpc.status.UNAVAILABLE, 'Connection dropped'), failure(grpc.status.DEADLINE_EXCEEDED)]);
    assert.equal(await fetchWithRetries(f.fetch, f.hooks(), RETRY), 'done');
    assert.equal(f.calls, 4);
    assert.equal(f.pauses.length, 3);
    for (const ms of f.pauses) assert.ok(ms >= 800 && ms <= 1_200, `a jittered pause of about 1 s: ${ms}`);
  });

  it('gives up once its time in all is spent, with the last failure', async () => {
    const f = scripted(Array.from({ length: 50 }, (_, i) => failure(grpc.status.UNAVAILABLE, `attempt ${i + 1}`)));
    await assert.rejects(fetchWithRetries(f.fetch, f.hooks(), RETRY), (err: Error) => /^attempt \d+$/.test(err.message));
    assert.ok(f.calls >= 9 && f.calls <= 12, `about 10 s of 1 s pauses: ${f.calls} attempts`);
    assert.ok(f.pauses.reduce((a, b) => a + b, 0) <= RETRY.totalMs);
  });

  it('does not try again after a failure that is not for want of a replica', async () => {
    for (const err of [failure(grpc.status.NOT_FOUND), new Error('ENOSPC: no space left on device')]) {
      const f = scripted([err]);
      await assert.rejects(fetchWithRetries(f.fetch, f.hooks(), RETRY), err);
      assert.equal(f.calls, 1);
    }
  });

  it('stops trying once the run is no longer wanted (stopped, its caller gone), also during a pause', async () => {
    const before = scripted([failure(grpc.status.UNAVAILABLE)]);
    await assert.rejects(fetchWithRetries(before.fetch, before.hooks(() => false), RETRY));
    assert.deepEqual([before.calls, before.pauses.length], [1, 0]);

    let wanted = true;
    const during = scripted([failure(grpc.status.UNAVAILABLE)]);
    const hooks = during.hooks(() => wanted);
    const sleep = hooks.sleep;
    hooks.sleep = async (ms) => {
      await sleep(ms);
      wanted = false;
    };
    await assert.rejects(fetchWithRetries(during.fetch, hooks, RETRY));
    assert.equal(during.calls, 1, 'no attempt after the pause');
  });

  it('grows its pauses up to a cap by default', () => {
    assert.deepEqual([1, 2, 3, 4, 5, 6, 10].map(CODE_FETCH_RETRY.pauseMs), [250, 500, 1_000, 2_000, 4_000, 4_000, 4_000]);
    assert.equal(CODE_FETCH_RETRY.totalMs, 30_000);
  });
});
