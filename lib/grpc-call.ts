/** A promise around a generated unary gRPC method, always with a deadline (docs/stack-notes.md). */
import type * as grpc from '@grpc/grpc-js';

// Conditional types over overloaded methods read the last overload: `(argument, callback)`.
/* eslint-disable @typescript-eslint/no-explicit-any */
type RequestOf<F> = F extends (argument: infer Req, callback: grpc.requestCallback<any>) => grpc.ClientUnaryCall ? Req : never;
type ReplyOf<F> = F extends (argument: any, callback: grpc.requestCallback<infer Res>) => grpc.ClientUnaryCall ? Res : never;

export const DEFAULT_DEADLINE_MS = 10_000;

/** `signal`: aborting it cancels the call, which then fails with CANCELLED. */
export function callUnary<C extends grpc.Client, K extends keyof C & string>(
  client: C,
  method: K,
  request: RequestOf<C[K]>,
  timeoutMs = DEFAULT_DEADLINE_MS,
  signal?: AbortSignal,
): Promise<ReplyOf<C[K]>> {
  return new Promise((resolve, reject) => {
    const fn = client[method] as unknown as (
      req: unknown,
      options: grpc.CallOptions,
      callback: (err: grpc.ServiceError | null, res?: ReplyOf<C[K]>) => void,
    ) => grpc.ClientUnaryCall;
    const cancel = () => call.cancel();
    const call = fn.call(client, request, { deadline: Date.now() + timeoutMs }, (err, res) => {
      signal?.removeEventListener('abort', cancel);
      if (err) reject(err);
      else resolve(res!);
    });
    if (signal?.aborted) cancel();
    else signal?.addEventListener('abort', cancel, { once: true });
  });
}
