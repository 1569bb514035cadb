/** How a failed etcd stream counts against its member (control-plane/etcd/stream-failures.ts). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Etcd3 } from 'etcd3';
import { countStreamFailuresOnce } from '../../control-plane/etcd/stream-failures';

/** A member whose breaker records the failures run through it. */
function member() {
  const failures: Error[] = [];
  return {
    failures,
    resets: 0,
    resetAllServices() {
      this.resets += 1;
    },
    faultHandling: {
      execute: async (fn: () => unknown) => {
        try {
          return fn();
        } catch (err) {
          failures.push(err as Error);
          throw err;
        }
      },
    },
  };
}

function pool() {
  let clock = 1_000_000;
  const client = { pool: { markFailed: () => assert.fail("etcd3's own reaction ran") } } as unknown as Etcd3;
  assert.equal(countStreamFailuresOnce(client, () => clock), true);
  const { pool: replaced } = client as unknown as { pool: { markFailed: (m: unknown, err: Error) => void } };
  const markFailed = replaced.markFailed;
  return { markFailed, advance: (ms: number) => (clock += ms) };
}

describe('stream failures', () => {
  it('counts the streams a dropped connection fails together once, and closes no channel', () => {
    const { markFailed } = pool();
    const m = member();
    for (let i = 0; i < 5; i++) markFailed(m, new Error('14 UNAVAILABLE: Connection dropped'));
    assert.equal(m.failures.length, 1);
    assert.equal(m.resets, 0, 'grpc-js reconnects the channels by itself');
  });

  it('counts a member failing again a second later, and each member on its own', () => {
    const { markFailed, advance } = pool();
    const [a, b] = [member(), member()];
    markFailed(a, new Error('first'));
    markFailed(b, new Error('other member'));
    advance(999);
    markFailed(a, new Error('too soon'));
    advance(1);
    markFailed(a, new Error('a second later'));
    assert.deepEqual(a.failures.map((e) => e.message), ['first', 'a second later']);
    assert.deepEqual(b.failures.map((e) => e.message), ['other member']);
  });

  it('leaves an etcd3 without that shape alone', () => {
    assert.equal(countStreamFailuresOnce({} as Etcd3), false);
  });
});
