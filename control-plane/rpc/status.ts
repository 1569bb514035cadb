/**
 * The boundary between domain errors and gRPC: every error a handler throws leaves as a status
 * whose trailer carries its reason (lib/status-reason.ts), so callers never read message text.
 * Unexpected errors are logged here and leave as `internal`.
 */
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../../lib/log';
import { ProcfileError } from '../../lib/procfile';
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
  statusWithReason,
  UNAUTHENTICATED,
  type Reason,
} from '../../lib/status-reason';
import { asEtcdOutage } from '../etcd/outage';
import { DomainError } from '../errors';

/**
 * The gRPC code of each reason. Codes a client without reasons understands: INVALID_ARGUMENT and
 * the like for the user's mistakes, UNAVAILABLE (with the reason) for an etcd outage, ABORTED for
 * a conflict (gRPC's "retry at a higher level").
 */
export const CODE_OF_REASON: Readonly<Record<Reason, grpc.status>> = {
  [INVALID_INPUT]: grpc.status.INVALID_ARGUMENT,
  [LIMIT_EXCEEDED]: grpc.status.INVALID_ARGUMENT,
  [NOT_FOUND]: grpc.status.NOT_FOUND,
  [ALREADY_EXISTS]: grpc.status.ALREADY_EXISTS,
  [PRECONDITION_FAILED]: grpc.status.FAILED_PRECONDITION,
  [CONFLICT]: grpc.status.ABORTED,
  [ETCD_UNAVAILABLE]: grpc.status.UNAVAILABLE,
  [UNAUTHENTICATED]: grpc.status.UNAUTHENTICATED,
  [PERMISSION_DENIED]: grpc.status.PERMISSION_DENIED,
  [INTERNAL]: grpc.status.INTERNAL,
  [AGENT_LOST]: grpc.status.INTERNAL,
};

/** A refusal with `reason`: its code from CODE_OF_REASON. */
export function refusal(reason: Reason, details: string): Partial<grpc.StatusObject> {
  return statusWithReason(CODE_OF_REASON[reason], details, reason);
}

const OUTAGE_WARNING_EVERY_MS = 10_000;
let lastOutageWarning = 0;

export function toServiceError(err: unknown, logger: Logger): Partial<grpc.StatusObject> {
  const message = err instanceof Error ? err.message : String(err);
  const outage = asEtcdOutage(err);
  if (outage) {
    // Every agent calls every second: one warning per interval, the rest at debug level.
    const now = Date.now();
    if (now - lastOutageWarning > OUTAGE_WARNING_EVERY_MS) {
      lastOutageWarning = now;
      logger.warn({ reason: outage.why }, 'requests fail: etcd is unreachable (said once every 10 s)');
    } else {
      logger.debug({ reason: outage.why }, 'request failed: etcd is unreachable');
    }
    return refusal(ETCD_UNAVAILABLE, outage.message);
  }
  if (err instanceof DomainError) return refusal(err.reason, message);
  // Parsed by lib/, shared with the CLI: a Procfile the deploy carried.
  if (err instanceof ProcfileError) return refusal(INVALID_INPUT, message);
  logger.error({ err }, 'request failed');
  return refusal(INTERNAL, `internal error in the control plane: ${message}`);
}

/** Wraps an async unary handler: its result or its error goes back to the caller, never a crash. */
export function unary<Req, Res>(
  logger: Logger,
  handler: (request: Req, call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res>,
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    handler(call.request, call).then(
      (res) => callback(null, res),
      (err: unknown) => callback(toServiceError(err, logger)),
    );
  };
}
