/** Wraps gRPC service handlers with an authorization rule decided from the caller's certificate. */
import * as grpc from '@grpc/grpc-js';
import { peerIdentity } from './tls';
import type { Identity } from './pki';
import { PERMISSION_DENIED, statusWithReason } from './status-reason';

export type AnyCall = { getAuthContext(): { sslPeerCertificate?: { subject?: { CN?: unknown } } }; request?: unknown; emit?: (e: string, v: unknown) => boolean };
export type Rule = (identity: Identity | undefined, call: AnyCall) => Partial<grpc.StatusObject> | undefined;

/** Wraps every handler of a service so that `rule` runs first. */
export function guard<T extends grpc.UntypedServiceImplementation>(handlers: T, rule: Rule): T {
  const out: grpc.UntypedServiceImplementation = {};
  for (const [name, handler] of Object.entries(handlers)) {
    const h = handler as (call: AnyCall, callback?: (err: Partial<grpc.StatusObject>) => void) => void;
    out[name] = ((call: AnyCall, callback?: (err: Partial<grpc.StatusObject>) => void) => {
      const refusal = rule(peerIdentity(call), call);
      if (!refusal) return h(call, callback);
      if (callback) return callback(refusal);
      call.emit?.('error', refusal);
    }) as grpc.UntypedHandleCall;
  }
  return out as T;
}

/** What agents serve (logs, one-off runs): the control plane only. */
export const controlPlaneOnly: Rule = (identity) =>
  identity?.kind === 'control-plane' ? undefined : statusWithReason(grpc.status.PERMISSION_DENIED, 'only the control plane may call agents', PERMISSION_DENIED);
