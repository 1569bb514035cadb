/**
 * The etcd endpoints a control plane is given (`--etcd URL,URL,…`) must be members of one etcd
 * cluster: the client spreads its requests over them, so a member of another cluster (a staging
 * etcd among production's) would take some of the writes and answer some of the reads with data
 * of its own. Each endpoint is asked its cluster id at start; one that does not answer within
 * 2 s is not held against the start (a member down is what several endpoints are for).
 */
import { noop } from 'cockatiel';
import { Etcd3 } from 'etcd3';

const ASK_TIMEOUT_MS = 2_000;

/** Throws, naming each cluster and its endpoints, when the endpoints that answer belong to more than one etcd cluster. */
export async function checkOneEtcdCluster(hosts: readonly string[]): Promise<void> {
  if (hosts.length < 2) return;
  const answers = await Promise.all(hosts.map(async (host) => ({ host, clusterId: await clusterIdOf(host) })));
  const byCluster = new Map<string, string[]>();
  for (const { host, clusterId } of answers) {
    if (clusterId !== undefined) byCluster.set(clusterId, [...(byCluster.get(clusterId) ?? []), host]);
  }
  if (byCluster.size <= 1) return;
  const clusters = [...byCluster].map(([id, members]) => `${members.join(', ')} (cluster id ${BigInt(id).toString(16)})`);
  throw new Error(`--etcd names members of ${byCluster.size} different etcd clusters: ${clusters.join('; ')}; give the client URLs of one cluster's members`);
}

/** The cluster id `host` reports (decimal, as etcd3 gives it), or undefined when it does not answer in time. */
async function clusterIdOf(host: string): Promise<string | undefined> {
  const client = new Etcd3({ hosts: host, dialTimeout: ASK_TIMEOUT_MS, faultHandling: { host: () => noop, global: noop } });
  try {
    const status = await client.maintenance.status({ deadline: Date.now() + ASK_TIMEOUT_MS });
    return status.header.cluster_id;
  } catch {
    return undefined;
  } finally {
    client.close();
  }
}
