/**
 * Runs a cluster-API handler in-process for the dashboard's JSON API: the same code the CLI
 * reaches over gRPC (validation, revision-checked writes, error translation), with its gRPC
 * status turned into an HTTP status at the end.
 */
import * as grpc from '@grpc/grpc-js';

/** An error with the HTTP status to answer and a sentence for the user. */
export class HttpError extends Error {
  override name = 'HttpError';
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

const HTTP_STATUS: Partial<Record<grpc.status, number>> = {
  [grpc.status.INVALID_ARGUMENT]: 400,
  [grpc.status.OUT_OF_RANGE]: 400,
  [grpc.status.NOT_FOUND]: 404,
  [grpc.status.ALREADY_EXISTS]: 409,
  [grpc.status.FAILED_PRECONDITION]: 409,
  [grpc.status.ABORTED]: 409,
  [grpc.status.UNAUTHENTICATED]: 401,
  [grpc.status.PERMISSION_DENIED]: 403,
  [grpc.status.UNAVAILABLE]: 503,
  [grpc.status.DEADLINE_EXCEEDED]: 504,
};

/** Calls a unary handler with `request`; rejects with an HttpError carrying the handler's message. */
export function callHandler<Req, Res>(handler: grpc.handleUnaryCall<Req, Res>, request: Req): Promise<Res> {
  return new Promise((resolve, reject) => {
    const call = { request, metadata: new grpc.Metadata(), getPeer: () => 'dashboard', cancelled: false } as unknown as grpc.ServerUnaryCall<Req, Res>;
    handler(call, (err, value) => {
      if (!err) return resolve(value as Res);
      const code = err.code ?? grpc.status.INTERNAL;
      reject(new HttpError(HTTP_STATUS[code] ?? 500, err.details || (err as { message?: string }).message || 'the control plane failed'));
    });
  });
}
