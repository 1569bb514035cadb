/**
 * Who may call what, decided from the caller's certificate only: operators (the CLI)
 * call the cluster API, an agent calls the agent API for itself alone, anyone may
 * only join. With TLS off (loopback dev clusters) every caller is trusted.
 */
import type * as grpc from '@grpc/grpc-js';
import type { Rule } from '../../lib/authz';
import type { Identity } from '../../lib/identity';
import { PERMISSION_DENIED, UNAUTHENTICATED } from '../../lib/status-reason';
import { refusal } from '../rpc/status';

const noCredential = () =>
  refusal(
  UNAUTHENTICATED,
  'this control plane requires a credential: log in with `cluster login --server HOST:PORT --token T` (make a token with `cluster operators:token` where you are logged in)',
);

/** The cluster API: operators only. */
export const operatorsOnly: Rule = (identity) => {
  if (identity?.kind === 'operator') return undefined;
  return identity ? refusal(PERMISSION_DENIED, `${identity.kind} certificates cannot use the cluster API`) : noCredential();
};

/** The agent API: an agent, acting for itself only. */
export const agentsForThemselves: Rule = (identity, call) => {
  if (identity?.kind !== 'agent') return refusal(UNAUTHENTICATED, 'an agent certificate is required: join with `cluster agent join`');
  return claimRefusal(identity, (call.request as { agent_id?: unknown } | undefined)?.agent_id);
};

/**
 * The refusal for a request of agent `identity` that names another agent, or undefined. The
 * rule above sees a call's first request only; a stream of requests checks each (`Heartbeats`).
 */
export function claimRefusal(identity: Identity, claimed: unknown): Partial<grpc.StatusObject> | undefined {
  if (typeof claimed === 'string' && claimed !== identity.name) {
    return refusal(PERMISSION_DENIED, `agent ${identity.name} cannot act for agent ${claimed}`);
  }
  return undefined;
}
