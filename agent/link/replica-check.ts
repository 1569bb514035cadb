/**
 * Before an agent starts: every replica it was given must belong to its cluster. With TLS
 * each must present the agent's CA; in any case all that answer must report the same
 * cluster id. A replica that cannot be reached now is not held against the start (it is
 * checked by TLS, or by its cluster id, when the link first reaches it).
 *
 * Nor is one that is slow: once a replica has answered, the others get LATE_ANSWER_MS more.
 * A restarted agent registers only after this check, within its lease (4 s by default), or
 * the control plane places its instances elsewhere; one replica host down cost 3 s here (6 s
 * with TLS: the CA, then the cluster id) and every restart lost its instances.
 */
import * as grpc from '@grpc/grpc-js';
import { agentProto, CHANNEL_OPTIONS } from '../../proto/load';
import type { Logger } from '../../lib/log';
import { callUnary } from '../../lib/grpc-call';
import { fetchCA } from '../../lib/join';
import { caHash, CONTROL_PLANE_NAME } from '../../lib/pki';
import { channelCredentials, StaticCertificateProvider, targetName, type TlsMaterial } from '../../lib/tls';
import { isReplicaFailure } from '../../lib/failover';
import { requiresTls, tlsRequiredMessage } from './tls-mismatch';

const CHECK_TIMEOUT_MS = 3_000;
/** How long the others may still answer once one replica has. */
export const LATE_ANSWER_MS = 300;

/** A given replica belongs to another cluster. */
export class ForeignClusterError extends Error {
  override name = 'ForeignClusterError';
}

/**
 * This agent has no certificate and every given replica runs with TLS: no retry can succeed, only
 * a join (a replica that is down instead is waited for, as any).
 */
export class TlsRequiredError extends Error {
  override name = 'TlsRequiredError';
}

/** Checks `servers`; returns the cluster id they report ('' when none answered). */
export async function checkReplicas(servers: readonly string[], tls: TlsMaterial | undefined, logger: Logger, lateAnswerMs = LATE_ANSWER_MS): Promise<string> {
  const ownCa = tls && caHash(tls.caPem);
  const provider = tls && new StaticCertificateProvider(tls);
  const Client = agentProto().AgentApi;
  // One deadline for both calls of a replica (with TLS: the CA, then the cluster id).
  const deadline = Date.now() + CHECK_TIMEOUT_MS;
  let answered!: () => void;
  const firstAnswer = new Promise<void>((resolve) => (answered = resolve));
  const withTls = new Set<string>();
  const checks = servers.map(async (server) => {
    try {
      if (ownCa) {
        const theirs = caHash(await fetchCA(server, undefined, Math.max(1, deadline - Date.now())));
        if (theirs !== ownCa) {
          throw new ForeignClusterError(`replica ${server} belongs to another cluster (CA ${theirs}; this agent's CA is ${ownCa}): refusing to start`);
        }
      }
      const client = provider
        ? new Client(server, channelCredentials(provider), { ...CHANNEL_OPTIONS, ...targetName(CONTROL_PLANE_NAME) })
        : new Client(server, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
      try {
        const reply = await callUnary(client, 'ListReplicas', {}, Math.max(1, deadline - Date.now()));
        if (reply.cluster_id) answered();
        return { server, clusterId: reply.cluster_id };
      } finally {
        client.close();
      }
    } catch (err) {
      if (err instanceof ForeignClusterError) throw err;
      if (!tls && isReplicaFailure(err) && (await requiresTls(server, Math.max(1, deadline - Date.now())))) {
        withTls.add(server);
        return { server, clusterId: '' };
      }
      const why = isReplicaFailure(err) ? 'unreachable' : (err as Error).message;
      logger.warn({ server, why }, 'could not check a control-plane replica now; it is checked when first reached');
      return { server, clusterId: '' };
    }
  });
  const settled: Array<{ server: string; clusterId: string } | undefined> = servers.map(() => undefined);
  checks.forEach((check, i) => void check.then((r) => (settled[i] = r), () => undefined));
  const all = Promise.all(checks);
  // A foreign replica that answers after the wait is refused by the link when it reaches it.
  all.catch(() => undefined);
  const late = firstAnswer.then(() => new Promise<void>((resolve) => setTimeout(resolve, lateAnswerMs).unref()));
  // A foreign replica found before then refuses the start (`all` rejects with its error).
  await Promise.race([all, late]);
  const slow = servers.filter((_, i) => settled[i] === undefined);
  if (slow.length > 0) logger.warn({ servers: slow, waitedMs: lateAnswerMs }, 'control-plane replicas did not answer in time; each is checked when first reached');
  if (withTls.size === servers.length) throw new TlsRequiredError(tlsRequiredMessage(servers));
  // Some replicas want TLS, others are down or answer without: the link says so if it reaches one.
  if (withTls.size > 0) logger.error({ servers: [...withTls] }, tlsRequiredMessage([...withTls]));
  const results = settled.filter((r): r is { server: string; clusterId: string } => r !== undefined);
  const answeredIds = results.filter((r) => r.clusterId);
  const first = answeredIds[0];
  const other = answeredIds.find((r) => r.clusterId !== first?.clusterId);
  if (first && other) {
    throw new ForeignClusterError(`replica ${other.server} belongs to another cluster than ${first.server} (cluster id ${other.clusterId}, not ${first.clusterId}): refusing to start`);
  }
  return first?.clusterId ?? '';
}
