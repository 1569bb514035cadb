/** Translates domain errors into gRPC statuses at the boundary (and logs the unexpected). */
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../../lib/log';
import { asEtcdOutage } from '../etcd/outage';
import type { Staleness } from '../etcd/health';
import { ETCD_UNAVAILABLE, REASON_HEADER } from '../../lib/status-reason';
import { AlreadyExistsError, ConflictError, FailedPreconditionError, InvalidArgumentError, NotFoundError } from '../errors';
import { ProcfileError } from '../../lib/procfile';

/** The `stale` member of a listing: set while this replica cannot read etcd (see etcd/health.ts). */
export function staleOf(ctx: { health: { staleness(): Staleness | undefined } }): { stale_ms: number; reason: string } | undefined {
  const stale = ctx.health.staleness();
  return stale && { stale_ms: stale.ageMs, reason: stale.message };
}

const OUTAGE_WARNING_EVERY_MS = 10_000;
let lastOutageWarning = 0;

export function toServiceError(err: unknown, logger: Logger): Partial<grpc.StatusObject> {
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof InvalidArgumentError || err instanceof ProcfileError) return { code: grpc.status.INVALID_ARGUMENT, details: message };
  if (err instanceof NotFoundError) return { code: grpc.status.NOT_FOUND, details: message };
  if (err instanceof AlreadyExistsError) return { code: grpc.status.ALREADY_EXISTS, details: message };
  if (err instanceof FailedPreconditionError) return { code: grpc.status.FAILED_PRECONDITION, details: message };
  if (err instanceof ConflictError) return { code: grpc.status.ABORTED, details: message };
  const outage = asEtcdOutage(err);
  if (outage) {
    // Every agent calls every second: one warning per interval, the rest at debug level.
    const now = Date.now();
    if (now - lastOutageWarning > OUTAGE_WARNING_EVERY_MS) {
      lastOutageWarning = now;
      logger.warn({ reason: outage.reason }, 'requests fail: etcd is unreachable (said once every 10 s)');
    } else {
      logger.debug({ reason: outage.reason }, 'request failed: etcd is unreachable');
    }
    const metadata = new grpc.Metadata();
    metadata.set(REASON_HEADER, ETCD_UNAVAILABLE);
    return { code: grpc.status.UNAVAILABLE, details: outage.message, metadata };
  }
  logger.error({ err }, 'request failed');
  return { code: grpc.status.INTERNAL, details: `internal error in the control plane: ${message}` };
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
