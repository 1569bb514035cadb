/**
 * A one-off's code fetch that failed for want of a control-plane replica (the one it fetched
 * from was killed or restarted, none answers yet) is tried again after a short, growing pause,
 * for a bounded time in all: each attempt goes through the replica the agent's link uses then
 * (the release cache's client follows the link's failover, lib/failover.ts), so the run starts
 * once a control plane is back. Any other failure (a digest that does not match, a full disk)
 * ends the launch at once. Pure but for the pauses: unit-tested in test/unit/code-fetch-retry.test.ts.
 */
import { isReplicaFailure } from '../../lib/failover';
import { jittered, pause } from '../../lib/retry-delay';

export interface CodeFetchRetry {
  /** How long after the first attempt began a failed attempt is still tried again (ms). */
  totalMs: number;
  /** The pause after failed attempt `attempt` (1-based), before jitter (ms). */
  pauseMs: (attempt: number) => number;
}

/** About 30 s in all: a control plane restarted by its supervisor is back by then. */
export const CODE_FETCH_RETRY: CodeFetchRetry = {
  totalMs: 30_000,
  pauseMs: (attempt) => Math.min(250 * 2 ** (attempt - 1), 4_000),
};

export interface RetryHooks {
  /** False once the run was stopped or its caller went away: no attempt is made any more. */
  goOn: () => boolean;
  /** Told before each pause (for the agent's log). */
  onRetry: (err: unknown, attempt: number, pauseMs: number) => void;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/** `fetch()`, again after a pause while it fails for want of a replica, within `retry.totalMs`. */
export async function fetchWithRetries<T>(fetch: () => Promise<T>, hooks: RetryHooks, retry: CodeFetchRetry = CODE_FETCH_RETRY): Promise<T> {
  const now = hooks.now ?? Date.now;
  const sleep = hooks.sleep ?? pause;
  const began = now();
  for (let attempt = 1; ; attempt++) {
    try {
      return await fetch();
    } catch (err) {
      const pauseMs = jittered(retry.pauseMs(attempt));
      const inTime = now() + pauseMs - began <= retry.totalMs;
      // The release cache's error keeps the call's gRPC code: a reset or dropped connection is UNAVAILABLE.
      if (!isReplicaFailure(err) || !inTime || !hooks.goOn()) throw err;
      hooks.onRetry(err, attempt, pauseMs);
      await sleep(pauseMs);
      if (!hooks.goOn()) throw err;
    }
  }
}
