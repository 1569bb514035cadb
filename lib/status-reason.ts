/**
 * Why the control plane refused or failed a call, in a form a program can read: every error
 * status it sends carries one of these reasons in the trailer REASON_HEADER, next to the gRPC
 * code and the human message. The CLI picks its exit code and wording from the reason
 * (cli/errors.ts), never from the message text. docs/cli.md lists them with their exit codes.
 */
import * as grpc from '@grpc/grpc-js';

/** The trailer (metadata key) that carries the reason. */
export const REASON_HEADER = 'cluster-reason';

/** The user sent something malformed or impossible (a bad name, an unknown type). */
export const INVALID_INPUT = 'invalid-input';
/** A size or count limit was exceeded; the message names the limit (and the flag that sets it, if any). */
export const LIMIT_EXCEEDED = 'limit-exceeded';
/** An app, release, instance, agent or job does not exist. */
export const NOT_FOUND = 'not-found';
/** What was to be created exists already. */
export const ALREADY_EXISTS = 'already-exists';
/** Valid, but not possible in the current state (scale before the first deploy, no agent ready). */
export const PRECONDITION_FAILED = 'precondition-failed';
/** Other writers won the race too many times; nothing changed and the same call may be retried. */
export const CONFLICT = 'conflict';
/** The control plane is up, but etcd could not be reached from it. */
export const ETCD_UNAVAILABLE = 'etcd-unavailable';
/** No credential, or one the cluster does not accept (a join token too). */
export const UNAUTHENTICATED = 'unauthenticated';
/** A credential that may not make this call (an agent certificate on the operators' API). */
export const PERMISSION_DENIED = 'permission-denied';
/** A bug or an unexpected failure in the control plane. */
export const INTERNAL = 'internal';
/** An agent was lost in the middle of the request (its connection dropped): the message says what that left. */
export const AGENT_LOST = 'agent-lost';

export const REASONS = [
  INVALID_INPUT,
  LIMIT_EXCEEDED,
  NOT_FOUND,
  ALREADY_EXISTS,
  PRECONDITION_FAILED,
  CONFLICT,
  ETCD_UNAVAILABLE,
  UNAUTHENTICATED,
  PERMISSION_DENIED,
  INTERNAL,
  AGENT_LOST,
] as const;
export type Reason = (typeof REASONS)[number];

const KNOWN: ReadonlySet<string> = new Set(REASONS);

/** The reason an error status carries, or undefined (a transport failure, or a peer that sends none). */
export function reasonOf(err: unknown): Reason | undefined {
  // Duck-typed: a status may come from another copy of grpc-js (a tool bundling its own).
  const metadata = (err as { metadata?: { get?: unknown } } | undefined)?.metadata;
  if (typeof metadata?.get !== 'function') return undefined;
  const value = (metadata as grpc.Metadata).get(REASON_HEADER)[0];
  return typeof value === 'string' && KNOWN.has(value) ? (value as Reason) : undefined;
}

/**
 * The longest status message sent, in characters. Messages quote what the caller sent: a 200 kB
 * name quoted whole made a trailer larger than the caller's HTTP/2 header limit, and its
 * connection broke with every call on it (a deadline, then "Connection dropped").
 */
export const MAX_DETAILS_LENGTH = 2_000;

/** `details` cut to MAX_DETAILS_LENGTH, saying so. */
export function boundedDetails(details: string): string {
  if (details.length <= MAX_DETAILS_LENGTH) return details;
  const cut = details.slice(0, MAX_DETAILS_LENGTH).replace(/[\uD800-\uDBFF]$/, '');
  return `${cut}… (${details.length - cut.length} more characters cut)`;
}

/** A status to send: `code` and `details` (bounded), with `reason` in its trailer. */
export function statusWithReason(code: grpc.status, details: string, reason: Reason): Partial<grpc.StatusObject> {
  const metadata = new grpc.Metadata();
  metadata.set(REASON_HEADER, reason);
  return { code, details: boundedDetails(details), metadata };
}
