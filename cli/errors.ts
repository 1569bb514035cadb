/**
 * What the CLI prints and exits with when something goes wrong (docs/cli.md: exit codes).
 * An answer of the control plane carries a reason (lib/status-reason.ts) that decides the exit
 * code; only failures that never reached it (no reason) are told apart by their gRPC code.
 */
import * as grpc from '@grpc/grpc-js';
import { ServerListError } from '../lib/server-list';
import {
  AGENT_LOST,
  ALREADY_EXISTS,
  CONFLICT,
  ETCD_UNAVAILABLE,
  INTERNAL,
  INVALID_INPUT,
  LIMIT_EXCEEDED,
  NOT_FOUND,
  PERMISSION_DENIED,
  PRECONDITION_FAILED,
  reasonOf,
  UNAUTHENTICATED,
  type Reason,
} from '../lib/status-reason';

/** A mistake in what the user typed: exit 1. */
export class UserError extends Error {
  override name = 'UserError';
}

/** The cluster could not be reached or could not answer (e.g. it still cannot read etcd): exit 2. */
export class ReachError extends Error {
  override name = 'ReachError';
}

/** Exit statuses: the contract of docs/cli.md and README.md. */
export const EXIT_USER_ERROR = 1;
export const EXIT_UNREACHABLE = 2;
export const EXIT_FAILED = 3;

/** The exit status of each reason the control plane gives. */
export const EXIT_OF_REASON: Readonly<Record<Reason, number>> = {
  [INVALID_INPUT]: EXIT_USER_ERROR,
  [LIMIT_EXCEEDED]: EXIT_USER_ERROR,
  [NOT_FOUND]: EXIT_USER_ERROR,
  [ALREADY_EXISTS]: EXIT_USER_ERROR,
  [PRECONDITION_FAILED]: EXIT_USER_ERROR,
  // Retried by the client first (cli/client.ts); still losing means the change failed.
  [CONFLICT]: EXIT_FAILED,
  [ETCD_UNAVAILABLE]: EXIT_UNREACHABLE,
  [UNAUTHENTICATED]: EXIT_UNREACHABLE,
  [PERMISSION_DENIED]: EXIT_UNREACHABLE,
  [INTERNAL]: EXIT_FAILED,
  [AGENT_LOST]: EXIT_FAILED,
};

/** gRPC codes that mean "your request is wrong" from a control plane that sends no reason. */
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

/** Turns any error into one sentence and an exit code. */
export function describeFailure(err: unknown, server: string): { message: string; exitCode: number } {
  if (err instanceof UserError) return { message: err.message, exitCode: EXIT_USER_ERROR };
  if (err instanceof ReachError) return { message: err.message, exitCode: EXIT_UNREACHABLE };
  // The server is not the cluster the pin names (lib/join.ts; by name: that module loads the PKI).
  if (err instanceof Error && err.name === 'CaPinMismatchError') return { message: err.message, exitCode: EXIT_UNREACHABLE };
  // A malformed --server list: no control plane can be reached with it.
  if (err instanceof ServerListError) return { message: err.message, exitCode: EXIT_UNREACHABLE };
  if (!isServiceError(err)) return { message: err instanceof Error ? err.message : String(err), exitCode: EXIT_FAILED };
  const reason = reasonOf(err);
  const failure = reason ? { message: messageOf(reason, err.details, server), exitCode: EXIT_OF_REASON[reason] } : withoutReason(err, server);
  // Set by the CLI's client (cli/client.ts): a change whose request was sent, but etcd did not
  // answer in time (it may apply it when it does) or no answer came. Again would be a new request.
  if ((err as { outcomeUnknown?: boolean }).outcomeUnknown === true) {
    failure.message += '. The change was sent and may still be made: look (`cluster ps`, `cluster releases`, `cluster config`) before running it again';
  }
  return failure;
}

function messageOf(reason: Reason, details: string, server: string): string {
  switch (EXIT_OF_REASON[reason]) {
    case EXIT_USER_ERROR:
      return details;
    case EXIT_UNREACHABLE:
      return reason === ETCD_UNAVAILABLE ? details : `the control plane at ${server} refused us: ${details}`;
    default:
      if (reason === AGENT_LOST) return details;
      return reason === CONFLICT
        ? `the control plane at ${server} could not apply this: ${details} (other changes won every attempt)`
        : `the control plane at ${server} failed: ${details}`;
  }
}

/**
 * A status without a reason: the call never reached a control plane (grpc-js made the status:
 * refused connection, TLS handshake, deadline), or the peer is one that sends no reasons. grpc-js
 * gives a transport failure's cause only as text in `details`, hence the two patterns below: they
 * only choose the wording of an exit 2, never the exit code.
 */
function withoutReason(err: grpc.ServiceError, server: string): { message: string; exitCode: number } {
  const answer = otherServerAnswer(err);
  if (answer) {
    return {
      message: `something else answers at ${server} (${answer}): it is not a cluster control plane; check --server or CLUSTER_SERVER`,
      exitCode: EXIT_UNREACHABLE,
    };
  }
  if (USER_CODES.has(err.code)) return { message: err.details, exitCode: EXIT_USER_ERROR };
  if (err.code === grpc.status.UNAVAILABLE || err.code === grpc.status.DEADLINE_EXCEEDED) {
    // A plaintext client meets a TLS-only replica as "No connection established" (the hint
    // below); "Connection dropped" is a connection lost while in use (a replica killed mid-deploy).
    if (/Connection dropped|ECONNRESET/i.test(err.details)) {
      return {
        message: `lost the connection to the control plane at ${server} (${err.details}): it stopped or restarted, or the network failed; running the command again reaches a replica that is up`,
        exitCode: EXIT_UNREACHABLE,
      };
    }
    if (/before secure TLS|socket disconnected/i.test(err.details)) {
      return {
        message: `the control plane at ${server} requires TLS and we hold no credential for it: log in with \`cluster login --server ${server} --token T\``,
        exitCode: EXIT_UNREACHABLE,
      };
    }
    const refused = /ECONNREFUSED/.test(err.details);
    const why = refused ? 'connection refused' : err.details.split('. ')[0];
    const tlsHint = refused ? '' : ` If it uses TLS, log in first (\`cluster login --server ${server} --token T\`).`;
    return {
      message: `cannot reach the control plane at ${server} (${why}): is it running? Start one with \`cluster dev\` or pass --server HOST:PORT.${tlsHint}`,
      exitCode: EXIT_UNREACHABLE,
    };
  }
  if (err.code === grpc.status.UNAUTHENTICATED || err.code === grpc.status.PERMISSION_DENIED) {
    return { message: `the control plane at ${server} refused us: ${err.details}`, exitCode: EXIT_UNREACHABLE };
  }
  return { message: `the control plane at ${server} failed: ${err.details}`, exitCode: EXIT_FAILED };
}

/**
 * What a server that is no control plane answered, or undefined: a gRPC server without the
 * cluster's services (etcd's client port: "unknown service cluster.api.ClusterApi", as grpc-go
 * words it; the control plane, grpc-js, never says that, even of a method it lacks), or an HTTP
 * server (grpc-js: "Received HTTP status code 404"). An HTTP 502/503/504 or 429 (UNAVAILABLE) may
 * be a proxy in front of a control plane that is down: that stays "cannot reach".
 */
function otherServerAnswer(err: grpc.ServiceError): string | undefined {
  if (err.code === grpc.status.UNIMPLEMENTED && /^unknown service \S+$/.test(err.details)) return err.details;
  const http = /^Received HTTP status code (\d+)$/.exec(err.details);
  if (http && err.code !== grpc.status.UNAVAILABLE) return `HTTP status ${http[1]!}`;
  return undefined;
}
