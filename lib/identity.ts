/**
 * Who a certificate speaks for and the DNS names certificates carry: plain names, apart from
 * lib/pki.ts so that code that only names identities (the CLI's TLS client, the agent's link)
 * does not load the whole x509 stack.
 */
/** The DNS name control-plane certificates carry; clients check it whatever address they dial. */
export const CONTROL_PLANE_NAME = 'control-plane.cluster';
/** The DNS name an agent's certificate carries (the control plane checks it when dialing the agent). */
export function agentHostName(agentId: string): string {
  return `${agentId}.agents.cluster`;
}

export type IdentityKind = 'agent' | 'operator' | 'control-plane';

/** Who a certificate speaks for, from its common name (`agent:web-01`, `operator:alice`, `control-plane`). */
export interface Identity {
  kind: IdentityKind;
  name: string;
}

export function commonName(identity: Identity): string {
  return identity.kind === 'control-plane' ? 'control-plane' : `${identity.kind}:${identity.name}`;
}

export function parseCommonName(cn: string): Identity | undefined {
  if (cn === 'control-plane') return { kind: 'control-plane', name: 'control-plane' };
  const m = /^(agent|operator):(.+)$/.exec(cn);
  return m ? { kind: m[1] as IdentityKind, name: m[2]! } : undefined;
}
