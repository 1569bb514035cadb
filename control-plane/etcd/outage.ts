/** Tells an etcd outage (unreachable, paused, no quorum) from a request etcd refused. */
import { GRPCDeadlineExceededError } from 'etcd3';
import { isUnreachable } from './client';
import { isBrokenCircuitError } from 'cockatiel';
import { EtcdUnavailableError } from '../errors';

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
