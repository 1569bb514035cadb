/**
 * Opens lease keepalive streams on which a busy etcd is not taken for a dead one.
 *
 * etcd 3.4's leader answers a keepalive only once it has applied every committed write, and
 * fails the stream with UNAVAILABLE "waiting for the applied index took too long" after 1 s
 * (docs/stack-notes.md). etcd3 reacts to any UNAVAILABLE on a writable stream by marking the
 * member failed, which counts towards its circuit breaker (once a second at most, however many
 * of the renewals' streams fail together: stream-failures.ts); the breaker then refuses every
 * call, renewals included. Against a member that answered, only slowly, that turns a slow
 * second into a lease storm. So on these streams that one answer ends the stream and nothing
 * else; any other error still marks the member failed.
 */
import type { Etcd3 } from 'etcd3';
import type { IDuplexStream, ILeaseKeepAliveRequest, ILeaseKeepAliveResponse } from 'etcd3/lib/rpc';

export type KeepAliveStream = IDuplexStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse>;

/** etcd answered, but its apply loop is behind: the member is alive and busy. */
export function isBusyEtcd(err: unknown): boolean {
  return err instanceof Error && /waiting for the applied index/i.test(err.message);
}

/**
 * The HTTP/2 connection under the stream went away (grpc-js's own status: a keepalive ping
 * unanswered in time, a reset): every stream on it failed together, and etcd refused nothing.
 */
export function isDroppedConnection(err: unknown): boolean {
  return err instanceof Error && (err as { code?: unknown }).code === 14 && (err as { details?: unknown }).details === 'Connection dropped';
}

export async function openKeepAliveStream(client: Etcd3): Promise<KeepAliveStream> {
  const stream = await client.leaseClient.leaseKeepAlive();
  // A grpc-js duplex stream: an EventEmitter, which etcd3's type does not say.
  const emitter = stream as unknown as NodeJS.EventEmitter;
  // etcd3's own listeners (today one: mark the member failed while the stream is writable).
  const theirs = emitter.listeners('error') as Array<(err: Error) => void>;
  emitter.removeAllListeners('error');
  emitter.on('error', (err: Error) => {
    // etcd3 leaves a stream we ended (half-closed) alone; so do we.
    if (isBusyEtcd(err) || (emitter as unknown as { writable?: boolean }).writable === false) return;
    for (const listener of theirs) listener.call(stream, err);
  });
  return stream;
}
