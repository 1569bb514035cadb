/**
 * Request ids: the CLI sends one with every unary call (the same on every attempt of that call,
 * whichever replica it goes to), and the control plane records it in etcd in the same
 * transaction as the change the call made, so that a retry after a failure that hid a success
 * answers the first result instead of applying the change again
 * (docs/high-availability.md#retries-never-apply-twice).
 */
import { randomUUID } from 'node:crypto';

/** The gRPC metadata key that carries it. */
export const REQUEST_ID_METADATA = 'cluster-request-id';

const REQUEST_ID = /^[A-Za-z0-9_-]{8,64}$/;

export function newRequestId(): string {
  return randomUUID();
}

/** Why `id` cannot be a request id; undefined when it can. */
export function requestIdProblem(id: string): string | undefined {
  if (REQUEST_ID.test(id)) return undefined;
  return `malformed ${REQUEST_ID_METADATA} (${JSON.stringify(id.slice(0, 80))}): 8 to 64 letters, digits, dashes or underscores`;
}
