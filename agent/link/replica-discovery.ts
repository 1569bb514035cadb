/**
 * The replica set as the agent's link knows it: asked of the current replica now and then
 * (ListReplicas), remembered in the data dir for the next run, and checked to belong to this
 * agent's cluster: a replica of another cluster is never registered with.
 */
import type { AgentApiClient } from '../../proto/gen/cluster/agent/AgentApi';
import type { Logger } from '../../lib/log';
import { callUnary } from '../../lib/grpc-call';
import { isReplicaFailure, type ServerSet } from '../../lib/failover';
import { saveReplicas } from './replica-memory';

/** How often the replica set is asked for again while registered. */
const REFRESH_REPLICAS_MS = 5_000;

/** A replica that reports another cluster id than the one this agent belongs to. */
export class ForeignReplicaError extends Error {
  override name = 'ForeignReplicaError';
}

export class ReplicaDiscovery {
  private lastRefresh = 0;
  private lastSaved = '';
  /** Replicas whose cluster id was checked (a foreign one is never registered with). */
  private readonly verified = new Set<string>();

  constructor(
    /** The cluster id known so far ('' until a replica says). */
    private clusterId: string,
    private readonly client: AgentApiClient,
    private readonly servers: ServerSet<AgentApiClient>,
    /** The replicas the agent was given (--server): they stay first. */
    private readonly given: string[],
    private readonly dataDir: string,
    private readonly logger: Logger,
  ) {}

  /** Whether the current replica was never checked: it must be, before the agent registers with it. */
  get currentUnchecked(): boolean {
    return !this.verified.has(this.servers.currentAddress);
  }

  /** Whether the replica set is due to be asked for again. */
  get due(): boolean {
    return Date.now() - this.lastRefresh >= REFRESH_REPLICAS_MS;
  }

  /**
   * Learns the replica set from the current replica and remembers it in the data dir; checks
   * that the replica belongs to this agent's cluster. `first`: the replica was never checked,
   * so an unreachable one is reported (to switch) rather than left to the heartbeat.
   */
  async refresh(deadlineMs: number, first = false): Promise<void> {
    this.lastRefresh = Date.now();
    const server = this.servers.currentAddress;
    let reply;
    try {
      reply = await callUnary(this.client, 'ListReplicas', {}, deadlineMs);
    } catch (err) {
      if (first && isReplicaFailure(err)) throw err;
      // An older control plane without ListReplicas, or a blip: the heartbeat decides about failover.
      this.logger.debug({ err: (err as Error).message }, 'could not list the control-plane replicas');
      if (!isReplicaFailure(err)) this.verified.add(server);
      return;
    }
    if (reply.cluster_id) {
      if (this.clusterId && reply.cluster_id !== this.clusterId) {
        throw new ForeignReplicaError(`replica ${server} belongs to another cluster (cluster id ${reply.cluster_id}, not ${this.clusterId})`);
      }
      this.clusterId = reply.cluster_id;
    }
    this.verified.add(server);
    const reported = reply.replicas.map((r) => r.address).filter((a) => a);
    if (reported.length === 0) return;
    if (this.servers.learn(reported, this.given)) {
      this.logger.info({ servers: this.servers.addresses() }, 'control-plane replicas learned');
    }
    const remembered = { clusterId: this.clusterId, servers: reported };
    const signature = JSON.stringify(remembered);
    if (signature === this.lastSaved) return;
    try {
      saveReplicas(this.dataDir, remembered);
      this.lastSaved = signature;
    } catch (err) {
      this.logger.warn({ err }, 'could not save the replica list');
    }
  }
}
