/**
 * How a failed stream (a watch, a lease keepalive) counts against its etcd member.
 *
 * etcd3 counts every failed stream towards the member's circuit breaker and closes all of the
 * member's channels. But one dropped connection fails every stream on it at once, five on a
 * replica. So a single drop, which grpc-js reconnects within milliseconds, opened the breaker
 * (three failures running), and the replica answered "etcd is unreachable" for a second while
 * etcd answered. This was the relapse after an etcd pause in docs/chaos.md. Closing the channels
 * also failed the requests waiting on them ("Channel closed before call started"), and those
 * counted too.
 *
 * Here the failed streams of a member count once a second at most, and its channels are left
 * open: grpc-js reconnects them by itself, and a new channel would share the same connection
 * anyway. A member that is really gone still fails its streams second after second, and every
 * request to it fails within its deadline, so its breaker still opens.
 */
import type { Etcd3 } from 'etcd3';

const COUNT_EVERY_MS = 1_000;

interface Member {
  faultHandling: { execute(fn: () => unknown): Promise<unknown> };
}

/** Replaces etcd3's reaction to a failed stream; false for an etcd3 version of another shape. */
export function countStreamFailuresOnce(client: Etcd3, now: () => number = Date.now): boolean {
  const pool = (client as unknown as { pool?: { markFailed?: unknown } }).pool;
  if (!pool || typeof pool.markFailed !== 'function') return false;
  const lastCounted = new WeakMap<Member, number>();
  pool.markFailed = (member: Member, err: Error) => {
    const at = now();
    if (at - (lastCounted.get(member) ?? -Infinity) < COUNT_EVERY_MS) return;
    lastCounted.set(member, at);
    // One failed run through the member's breaker, as etcd3 does.
    member.faultHandling
      .execute(() => {
        throw err;
      })
      .catch(() => undefined);
  };
  return true;
}
