/**
 * Joining a cluster from a new server or a new operator's machine: fetch the CA, check it
 * against the pin (`sha256:…`, printed with the token), make a key here, and trade the
 * token and a signing request for a certificate. The key never leaves this machine.
 */
import * as grpc from '@grpc/grpc-js';
import { bootstrapProto, CHANNEL_OPTIONS } from '../proto/load';
import { callUnary } from './grpc-call';
import { caHash, CONTROL_PLANE_NAME, keyAndCsr, type Identity } from './pki';
import { channelCredentials, StaticCertificateProvider, targetName, type TlsMaterial } from './tls';

/** The CA did not match the pin. */
export class CaPinMismatchError extends Error {
  override name = 'CaPinMismatchError';
}

export interface Joined {
  material: TlsMaterial;
  caHash: string;
  datacenter: string;
  labels: Record<string, string>;
  notAfterMs: number;
}

/** The cluster CA of `server`, checked against `pin` when one is given. */
export async function fetchCA(server: string, pin?: string, timeoutMs?: number): Promise<string> {
  // Nothing is trusted yet: the CA is fetched unverified and then checked against the pin.
  const creds = grpc.credentials.createSsl(null, null, null, { rejectUnauthorized: false });
  const client = new (bootstrapProto().Bootstrap)(server, creds, { ...CHANNEL_OPTIONS, ...targetName(CONTROL_PLANE_NAME) });
  try {
    const { ca_pem: caPem } = await callUnary(client, 'GetCA', {}, timeoutMs);
    const actual = caHash(caPem);
    if (pin && actual !== pin.trim().toLowerCase()) {
      throw new CaPinMismatchError(`the control plane at ${server} presented CA ${actual}, not the expected ${pin}: refusing to trust it (check the --ca-hash printed with the token, and the address)`);
    }
    return caPem;
  } finally {
    client.close();
  }
}

/**
 * What an agent asks for when it joins, besides what the token sets: its own labels and
 * datacenter (refused when they change the token's).
 */
export interface JoinAsk {
  labels?: Record<string, string>;
  datacenter?: string;
}

/** Trades `token` for a certificate naming `identity`, with an agent's own labels and datacenter (`asked`). */
export async function joinCluster(server: string, token: string, identity: Identity, pin?: string, asked: JoinAsk = {}): Promise<Joined> {
  const caPem = await fetchCA(server, pin);
  const { keyPem, csrPem } = await keyAndCsr(identity);
  // From here on the control plane must prove it holds a certificate from that CA.
  const creds = grpc.credentials.createSsl(Buffer.from(caPem));
  const client = new (bootstrapProto().Bootstrap)(server, creds, { ...CHANNEL_OPTIONS, ...targetName(CONTROL_PLANE_NAME) });
  try {
    const reply = await callUnary(client, 'Join', { token, csr_pem: csrPem, name: identity.name, kind: identity.kind, labels: asked.labels ?? {}, datacenter: asked.datacenter ?? '' });
    return {
      material: { caPem: reply.ca_pem, certPem: reply.cert_pem, keyPem },
      caHash: caHash(reply.ca_pem),
      datacenter: reply.datacenter,
      labels: reply.labels,
      notAfterMs: reply.not_after_ms,
    };
  } finally {
    client.close();
  }
}

/**
 * joinCluster() on the first of `servers` that can be reached (a token is spent once, on the
 * replica that answered); returns which one it was.
 */
export async function joinAny(servers: readonly string[], token: string, identity: Identity, pin?: string, asked?: JoinAsk): Promise<Joined & { server: string }> {
  let last: unknown;
  for (const server of servers) {
    try {
      return { ...(await joinCluster(server, token, identity, pin, asked)), server };
    } catch (err) {
      last = err;
      const code = (err as { code?: unknown }).code;
      if (code !== grpc.status.UNAVAILABLE && code !== grpc.status.DEADLINE_EXCEEDED) throw err;
    }
  }
  throw last;
}

/** A fresh certificate for a new key, authenticated by the current certificate. */
export async function renewCertificate(server: string, current: TlsMaterial, identity: Identity): Promise<{ material: TlsMaterial; notAfterMs: number }> {
  const { keyPem, csrPem } = await keyAndCsr(identity);
  const provider = new StaticCertificateProvider(current);
  const client = new (bootstrapProto().Bootstrap)(server, channelCredentials(provider), { ...CHANNEL_OPTIONS, ...targetName(CONTROL_PLANE_NAME) });
  try {
    const reply = await callUnary(client, 'Renew', { csr_pem: csrPem });
    return { material: { caPem: reply.ca_pem, certPem: reply.cert_pem, keyPem }, notAfterMs: reply.not_after_ms };
  } finally {
    client.close();
  }
}
