/**
 * Domain errors: what the control plane refuses or fails with, each with the reason the caller
 * gets (lib/status-reason.ts). rpc/status.ts turns them into gRPC statuses at the boundary.
 */
import {
  ALREADY_EXISTS,
  CONFLICT,
  ETCD_UNAVAILABLE,
  AGENT_LOST,
  INVALID_INPUT,
  LIMIT_EXCEEDED,
  NOT_FOUND,
  PRECONDITION_FAILED,
  UNAUTHENTICATED,
  type Reason,
} from '../lib/status-reason';

/** An error whose reason the caller is told. */
export abstract class DomainError extends Error {
  abstract readonly reason: Reason;
}

/** The user asked for something malformed or impossible: exit 1 in the CLI. */
export class InvalidArgumentError extends DomainError {
  override name = 'InvalidArgumentError';
  readonly reason: Reason = INVALID_INPUT;
}

/**
 * A size or count over a limit (docs/limits.md): exit 1. The message names the limit, and the
 * flag that sets it when an operator can change it.
 */
export class LimitExceededError extends InvalidArgumentError {
  override name = 'LimitExceededError';
  override readonly reason: Reason = LIMIT_EXCEEDED;
}

/** An app, release or agent does not exist. */
export class NotFoundError extends DomainError {
  override name = 'NotFoundError';
  readonly reason: Reason = NOT_FOUND;
}

/** `worker.9` of an app whose formation runs fewer: names what it runs. */
export function noSuchInstance(app: string, instance: string, type: string, count: number): NotFoundError {
  const runs = count === 0 ? `no ${type}` : count === 1 ? `${type}.1 only` : `${type}.1 to ${type}.${count}`;
  return new NotFoundError(`\`${app}\` has no instance ${instance}: it runs ${runs} (see \`cluster ps -a ${app}\`)`);
}

/** The thing to create exists already. */
export class AlreadyExistsError extends DomainError {
  override name = 'AlreadyExistsError';
  readonly reason: Reason = ALREADY_EXISTS;
}

/** A read-modify-write lost its race too many times; nothing changed and the caller may retry. */
export class ConflictError extends DomainError {
  override name = 'ConflictError';
  readonly reason: Reason = CONFLICT;
}

/** The request was valid but the state forbids it now (e.g. scale before the first deploy). */
export class FailedPreconditionError extends DomainError {
  override name = 'FailedPreconditionError';
  readonly reason: Reason = PRECONDITION_FAILED;
}

/** An agent was lost in the middle of something (its connection dropped): exit 3, it failed. */
export class AgentLostError extends DomainError {
  override name = 'AgentLostError';
  readonly reason: Reason = AGENT_LOST;
}

/** A join token (or credential) the cluster does not accept. */
export class UnauthenticatedError extends DomainError {
  override name = 'UnauthenticatedError';
  readonly reason: Reason = UNAUTHENTICATED;
}

/**
 * etcd could not be reached (down, paused, no quorum): the request may succeed once it is
 * back. The CLI shows it as "etcd is unreachable from the control plane (…)", exit 2.
 */
export class EtcdUnavailableError extends DomainError {
  override name = 'EtcdUnavailableError';
  readonly reason: Reason = ETCD_UNAVAILABLE;
  constructor(readonly why: string, options?: { cause?: unknown }) {
    super(`etcd is unreachable from the control plane (${why})`, options);
  }
}
