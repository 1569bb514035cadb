/**
 * The one place that builds the control plane's etcd client, with a fault-handling policy
 * that reacts to an unreachable etcd and never to a rejected request.
 *
 * etcd3's defaults trip a per-host circuit breaker on any "recoverable" error, and it counts
 * RESOURCE_EXHAUSTED (a request over etcd's size limit), INTERNAL, UNKNOWN and ABORTED among
 * them: one oversized write retried by the scheduler kept the breaker open for every request
 * of every app (issue 9). Here only UNAVAILABLE (and a deadline passed while waiting for a
 * member) count, every unary call has a deadline (a paused etcd must not pile calls up), and
 * HTTP/2 keepalives notice a member that stopped answering, so watches and lease streams fail
 * over and come back with a short, capped backoff (their failures count against a member once a
 * second at most: stream-failures.ts).
 */
import { Etcd3, GRPCDeadlineExceededError, GRPCGenericError, GRPCUnavailableError, type IOptions } from 'etcd3';
import { circuitBreaker, ConsecutiveBreaker, ConstantBackoff, ExponentialBackoff, handleWhen, noop, retry, type IBackoff } from 'cockatiel';
import { instrumentEtcdClient, type EtcdRequestObserver } from './instrument';
import { useFastDecoders } from './fast-decoders';
import { dropStrayWatchResponses } from './stray-watch-responses';
import { countStreamFailuresOnce } from './stream-failures';

/** Longest a unary etcd call may take; a stuck etcd answers within this, with an error. */
export const ETCD_CALL_DEADLINE_MS = 4_000;
/** Largest etcd answer taken (a whole prefix read at once); grpc-js's default is 4 MiB. */
export const MAX_ETCD_ANSWER_BYTES = 256 * 1024 * 1024;
/** How long a member that failed stays skipped before one call tries it again. */
const HOST_RETRY_AFTER_MS = 1_000;
/** Most a broken watch waits before it is tried again: watches resume within ~1 s of etcd's return. */
const WATCH_MAX_BACKOFF_MS = 1_000;

/**
 * Errors that mean "this etcd member could not be reached or did not answer", not "your request
 * is bad". A member without quorum may also answer UNKNOWN "context deadline exceeded" (its own
 * wait for the raft leader ran out with the caller's deadline).
 */
export function isUnreachable(err: Error): boolean {
  if (err instanceof GRPCUnavailableError || err instanceof GRPCDeadlineExceededError) return true;
  // Streams (lease keepalives) report grpc-js's own errors, not cast by etcd3.
  if (isRawGrpcError(err)) return err.code === UNAVAILABLE || err.code === DEADLINE_EXCEEDED;
  // etcd3 has no class for these (docs/stack-notes.md): its message is the only sign.
  return err instanceof GRPCGenericError && /context deadline exceeded|request timed out|no leader/i.test(err.message);
}

const DEADLINE_EXCEEDED = 4;
const UNAVAILABLE = 14;

function isRawGrpcError(err: Error): err is Error & { code: number } {
  return typeof (err as { code?: unknown }).code === 'number' && 'details' in err && 'metadata' in err;
}

export interface EtcdClientOptions {
  /** Override the unary-call deadline (tests). */
  callDeadlineMs?: number;
  dialTimeoutMs?: number;
  /** Times each unary request and counts its errors (control-plane/metrics/). */
  observer?: EtcdRequestObserver;
}

/** An etcd3 client for `hosts` (one or more client URLs of the same etcd cluster). */
export function createEtcdClient(hosts: string[], opts: EtcdClientOptions = {}): Etcd3 {
  if (hosts.length === 0) throw new Error('no etcd endpoint given');
  const deadlineMs = opts.callDeadlineMs ?? ETCD_CALL_DEADLINE_MS;
  const options: IOptions = {
    hosts,
    dialTimeout: opts.dialTimeoutMs ?? 3_000,
    grpcOptions: {
      // etcd refuses pings more often than every 5 s (--grpc-keepalive-min-time).
      'grpc.keepalive_time_ms': 5_000,
      'grpc.keepalive_timeout_ms': 2_000,
      'grpc.keepalive_permit_without_calls': 0,
      // Reconnect quickly once a member is back (grpc's default backoff grows to 120 s).
      'grpc.initial_reconnect_backoff_ms': 200,
      'grpc.max_reconnect_backoff_ms': 1_000,
      // grpc-js refuses answers over 4 MiB by default: 100k status records are ~30 MB, and a
      // mirror that loads them (a new leader, a watch reloaded after an outage) failed forever.
      'grpc.max_receive_message_length': MAX_ETCD_ANSWER_BYTES,
    },
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + deadlineMs }),
    faultHandling: {
      // Per member: skip one that failed three times running, try it again after a second.
      host: () => circuitBreaker(handleWhen(isUnreachable), { halfOpenAfter: HOST_RETRY_AFTER_MS, breaker: new ConsecutiveBreaker(3) }),
      // With several members, an unavailable one is retried on another (never a deadline:
      // that would multiply the wait). With one member there is nobody else to ask.
      global:
        hosts.length > 1
          ? retry(handleWhen((err) => err instanceof GRPCUnavailableError), { maxAttempts: Math.min(hosts.length - 1, 2), backoff: new ConstantBackoff(50) })
          : noop,
      // etcd3 types this as a backoff but calls next() on it first, as on the factory it defaults to.
      watchBackoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: WATCH_MAX_BACKOFF_MS }) as unknown as IBackoff<unknown>,
    },
  };
  const client = new Etcd3(options);
  // Watch events, transactions, reads and keepalives decoded without proto-loader's copies (fast-decoders.ts).
  useFastDecoders(client);
  dropStrayWatchResponses();
  // One dropped connection fails all its streams at once: that is one failure, not five.
  countStreamFailuresOnce(client);
  if (opts.observer) instrumentEtcdClient(client, opts.observer);
  return client;
}
