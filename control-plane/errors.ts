/** Domain errors the API turns into gRPC status codes (see api/status.ts). */

/** The user asked for something malformed or impossible: exit 1 in the CLI. */
export class InvalidArgumentError extends Error {
  override name = 'InvalidArgumentError';
}

/** An app, release or agent does not exist. */
export class NotFoundError extends Error {
  override name = 'NotFoundError';
}

/** The thing to create exists already. */
export class AlreadyExistsError extends Error {
  override name = 'AlreadyExistsError';
}

/** A read-modify-write lost its race too many times; the caller may retry. */
export class ConflictError extends Error {
  override name = 'ConflictError';
}

/** The request was valid but the state forbids it now (e.g. scale before the first deploy). */
export class FailedPreconditionError extends Error {
  override name = 'FailedPreconditionError';
}

/**
 * etcd could not be reached (down, paused, no quorum): the request may succeed once it is
 * back. The CLI shows it as "etcd is unreachable from the control plane (…)", exit 2.
 */
export class EtcdUnavailableError extends Error {
  override name = 'EtcdUnavailableError';
  constructor(readonly reason: string, options?: { cause?: unknown }) {
    super(`etcd is unreachable from the control plane (${reason})`, options);
  }
}
