/**
 * Who may call what, decided from the caller's certificate only: operators (the CLI)
 * call the cluster API, an agent calls the agent API for itself alone, anyone may
 * only join. With TLS off (loopback dev clusters) every caller is trusted.
 */
import * as grpc from '@grpc/grpc-js';
import type { Rule } from '../../lib/authz';

const NO_CREDENTIAL = {
  code: grpc.status.UNAUTHENTICATED,
  details: 'this control plane requires a credential: log in with `cluster login --server HOST:PORT --token T` (make a token with `cluster operators:token` where you are logged in)',
};

/** The cluster API: operators only. */
export const operatorsOnly: Rule = (identity) => {
  if (identity?.kind === 'operator') return undefined;
  return identity ? { code: grpc.status.PERMISSION_DENIED, details: `${identity.kind} certificates cannot use the cluster API` } : NO_CREDENTIAL;
};

/** The agent API: an agent, acting for itself only. */
export const agentsForThemselves: Rule = (identity, call) => {
  if (identity?.kind !== 'agent') return { code: grpc.status.UNAUTHENTICATED, details: 'an agent certificate is required: join with `cluster agent join`' };
  const claimed = (call.request as { agent_id?: unknown } | undefined)?.agent_id;
  if (typeof claimed === 'string' && claimed !== identity.name) {
    return { code: grpc.status.PERMISSION_DENIED, details: `agent ${identity.name} cannot act for agent ${claimed}` };
  }
  return undefined;
};
