/**
 * A credential stored for an address whose control plane was re-created (a fresh etcd makes a
 * new CA): the TLS handshake fails as "No connection established", which reads like a control
 * plane that is down. Asking for its CA (no certificate needed) tells the two apart.
 */
import * as grpc from '@grpc/grpc-js';
import { credentialFor } from '../lib/credentials';
import { fetchCA } from '../lib/join';
import { caHash } from '../lib/pki';
import { reasonOf } from '../lib/status-reason';
import { ReachError } from './errors';

const PROBE_TIMEOUT_MS = 2_000;

/**
 * When `err` is a failure to reach `server` and the CLI holds a credential for it from
 * another CA than the one `server` presents: an error saying so and how to log in again.
 */
export async function staleCredentialError(err: unknown, server: string): Promise<ReachError | undefined> {
  const code = (err as { code?: unknown } | undefined)?.code;
  if (code !== grpc.status.UNAVAILABLE || reasonOf(err) !== undefined) return undefined;
  const stored = credentialFor(server);
  if (!stored) return undefined;
  let theirs: string;
  try {
    theirs = caHash(await fetchCA(server, undefined, PROBE_TIMEOUT_MS));
  } catch {
    return undefined; // down, or no TLS there: the usual message fits
  }
  const ours = caHash(stored.caPem);
  if (theirs === ours) return undefined;
  return new ReachError(
    `the control plane at ${server} presents a certificate of another CA (${theirs}) than the credential stored for that address (CA ${ours}): the cluster was re-created, or another one runs there; log in again with \`cluster login --server ${server} --token T\` (a token from \`cluster operators:token\` on that cluster)`,
  );
}
