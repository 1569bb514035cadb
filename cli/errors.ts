/** What the CLI prints and exits with when something goes wrong (CLI.md: exit codes). */
import * as grpc from '@grpc/grpc-js';
import { ServerListError } from '../lib/server-list';
import { ETCD_UNAVAILABLE, REASON_HEADER } from '../lib/status-reason';

/** A mistake in what the user typed: exit 1. */
export class UserError extends Error {
  override name = 'UserError';
}

/** The cluster could not be reached or refused us: exit 2. */
export class ReachError extends Error {
  override name = 'ReachError';
}

const USER_CODES = new Set([
  grpc.status.INVALID_ARGUMENT,
  grpc.status.NOT_FOUND,
  grpc.status.ALREADY_EXISTS,
  grpc.status.FAILED_PRECONDITION,
  grpc.status.OUT_OF_RANGE,
]);

function isServiceError(err: unknown): err is grpc.ServiceError {
  return err instanceof Error && typeof (err as grpc.ServiceError).code === 'number' && 'details' in err;
}

/** The control plane answered, but could not reach etcd (see lib/status-reason.ts). */
function isEtcdOutage(err: grpc.ServiceError): boolean {
  const reason = err.metadata?.get(REASON_HEADER)[0];
  return reason === ETCD_UNAVAILABLE || /^etcd is unreachable from the control plane/.test(err.details);
}

/** Turns any error into one sentence and an exit code. */
export function describeFailure(err: unknown, server: string): { message: string; exitCode: number } {
  if (err instanceof UserError) return { message: err.message, exitCode: 1 };
  if (err instanceof ReachError) return { message: err.message, exitCode: 2 };
  // A malformed --server list: no control plane can be reached with it.
  if (err instanceof ServerListError) return { message: err.message, exitCode: 2 };
  if (isServiceError(err)) {
    if (USER_CODES.has(err.code)) return { message: err.details, exitCode: 1 };
    if (err.code === grpc.status.UNAVAILABLE && isEtcdOutage(err)) return { message: err.details, exitCode: 2 };
    if (err.code === grpc.status.UNAVAILABLE || err.code === grpc.status.DEADLINE_EXCEEDED) {
      if (/Connection dropped|before secure TLS|socket disconnected/i.test(err.details)) {
        return {
          message: `the control plane at ${server} requires TLS and we hold no credential for it: log in with \`cluster login --server ${server} --token T\``,
          exitCode: 2,
        };
      }
      const refused = /ECONNREFUSED/.test(err.details);
      const why = refused ? 'connection refused' : err.details.split('. ')[0];
      const tlsHint = refused ? '' : ` If it uses TLS, log in first (\`cluster login --server ${server} --token T\`).`;
      return {
        message: `cannot reach the control plane at ${server} (${why}): is it running? Start one with \`cluster dev\` or pass --server HOST:PORT.${tlsHint}`,
        exitCode: 2,
      };
    }
    if (err.code === grpc.status.UNAUTHENTICATED || err.code === grpc.status.PERMISSION_DENIED) {
      return { message: `the control plane at ${server} refused us: ${err.details}`, exitCode: 2 };
    }
    return { message: `the control plane at ${server} failed: ${err.details}`, exitCode: 3 };
  }
  return { message: err instanceof Error ? err.message : String(err), exitCode: 3 };
}
