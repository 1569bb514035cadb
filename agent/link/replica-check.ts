/**
 * Before an agent starts: every replica it was given must belong to its cluster. With TLS
 * each must present the agent's CA; in any case all that answer must report the same
 * cluster id. A replica that cannot be reached now is not held against the start (it is
 * checked by TLS, or by its cluster id, when the link first reaches it).
 */
import * as grpc from '@grpc/grpc-js';
import { agentProto, CHANNEL_OPTIONS } from '../../proto/load';
import type { Logger } from '../../lib/log';
import { callUnary } from '../../lib/grpc-call';
import { fetchCA } from '../../lib/join';
import { caHash, CONTROL_PLANE_NAME } from '../../lib/pki';
import { channelCredentials, StaticCertificateProvider, targetName, type TlsMaterial } from '../../lib/tls';
import { isReplicaFailure } from '../../lib/failover';

const CHECK_TIMEOUT_MS = 3_000;

/** A given replica belongs to another cluster. */
export class ForeignClusterError extends Error {
  override name = 'ForeignClusterError';
}

/** Checks `servers`; returns the cluster id they report ('' when none answered). */
export async function checkReplicas(servers: readonly string[], tls: TlsMaterial | undefined, logger: Logger): Promise<string> {
  const ownCa = tls && caHash(tls.caPem);
  const provider = tls && new StaticCertificateProvider(tls);
  const Client = agentProto().AgentApi;
  const results = await Promise.all(servers.map(async (server) => {
    try {
      if (ownCa) {
        const theirs = caHash(await fetchCA(server, undefined, CHECK_TIMEOUT_MS));
        if (theirs !== ownCa) {
          throw new ForeignClusterError(`replica ${server} belongs to another cluster (CA ${theirs}; this agent's CA is ${ownCa}): refusing to start`);
        }
      }
      const client = provider
        ? new Client(server, channelCredentials(provider), { ...CHANNEL_OPTIONS, ...targetName(CONTROL_PLANE_NAME) })
        : new Client(server, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
      try {
        const reply = await callUnary(client, 'ListReplicas', {}, CHECK_TIMEOUT_MS);
        return { server, clusterId: reply.cluster_id };
      } finally {
        client.close();
      }
    } catch (err) {
      if (err instanceof ForeignClusterError) throw err;
      const why = isReplicaFailure(err) ? 'unreachable' : (err as Error).message;
      logger.warn({ server, why }, 'could not check a control-plane replica now; it is checked when first reached');
      return { server, clusterId: '' };
    }
  }));
  const answered = results.filter((r) => r.clusterId);
  const first = answered[0];
  const other = answered.find((r) => r.clusterId !== first?.clusterId);
  if (first && other) {
    throw new ForeignClusterError(`replica ${other.server} belongs to another cluster than ${first.server} (cluster id ${other.clusterId}, not ${first.clusterId}): refusing to start`);
  }
  return first?.clusterId ?? '';
}
