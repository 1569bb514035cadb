/** Tells an etcd outage (unreachable, paused, no quorum) from a request etcd refused. */
import { GRPCDeadlineExceededError } from 'etcd3';
import { isUnreachable } from './client';
import { isBrokenCircuitError } from 'cockatiel';
import { EtcdUnavailableError } from '../errors';
import type { Logger } from '../../lib/log';

// A call refused by the client's breaker (etcd/client.ts) says only that earlier calls failed:
// report why they failed (the process talks to one etcd cluster).
let lastReason = 'it did not answer the last requests';

/** The reason of an outage in a few words, without gRPC codes or client internals. */
function shortReason(err: Error): string {
  if (isBrokenCircuitError(err)) return lastReason;
  lastReason = describe(err);
  return lastReason;
}

function describe(err: Error): string {
  if (err instanceof GRPCDeadlineExceededError) return 'no answer in time';
  const text = err.message.replace(/^\d+ [A-Z_]+: /, '');
  const refused = /ECONNREFUSED/.exec(text);
  if (refused) return 'connection refused';
  // grpc-js's words for a connection that went away under a call, or that it could not make.
  if (/Connection dropped|Channel closed|ECONNRESET|socket hang up/i.test(text)) return 'connection lost';
  if (/No connection established/i.test(text)) return 'no connection';
  if (/no leader|request timed out|leader changed|context deadline exceeded/i.test(text)) return 'etcd has no quorum or does not answer';
  const first = text.split(/\. |\n/)[0] ?? text;
  return first.length > 100 ? `${first.slice(0, 100)}…` : first;
}

/** An EtcdUnavailableError for `err` when it means etcd could not be reached; undefined otherwise. */
export function asEtcdOutage(err: unknown): EtcdUnavailableError | undefined {
  if (err instanceof EtcdUnavailableError) return err;
  if (!(err instanceof Error)) return undefined;
  if (isUnreachable(err) || isBrokenCircuitError(err)) {
    return new EtcdUnavailableError(shortReason(err), { cause: err });
  }
  return undefined;
}

/**
 * Logs a leader loop's failed pass that it will try again: an etcd outage (documented, expected,
 * reported by `ps` and the health probe) as a warning in a few words; anything else, a bug, as an
 * error with its stack.
 */
export function logPassFailed(logger: Logger, err: unknown, what: string): void {
  const outage = asEtcdOutage(err);
  if (outage) logger.warn(`${what} failed: ${outage.message}; retrying`);
  else logger.error({ err }, `${what} failed; retrying`);
}
