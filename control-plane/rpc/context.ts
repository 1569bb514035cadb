/**
 * What every handler of the control plane's services needs (the CLI's API, the agents' service,
 * logs and runs). Type-only: rpc/ depends on no part of the control plane at run time.
 */
import type { Etcd3 } from 'etcd3';
import type { Logger } from '../../lib/log';
import type { Keys } from '../keys';
import type { AppStore } from '../state/app-store';
import type { ClusterView } from '../state/cluster-view';
import type { SlugReplication } from '../slugs/slug-replication';
import type { Security } from '../security/security';
import type { ReplicaRegistry } from '../replicas/registry';
import type { EtcdHealth } from '../etcd/health';
import type { JobStore } from '../cron/job-store';
import type { AgentDialer } from '../agents/agent-dialer';
import type { ControlPlaneMetrics } from '../metrics/control-plane-metrics';

export interface ApiContext {
  client: Etcd3;
  keys: Keys;
  store: AppStore;
  view: ClusterView;
  /** Slugs stored here, and their replication to the other replicas. */
  slugs: SlugReplication;
  logger: Logger;
  /** When each agent last heartbeated through this replica. */
  heartbeats: Map<string, number>;
  /** The agents' lease TTL (`--agent-ttl`), in ms. */
  agentTtlMs: number;
  /** TLS material and join tokens; undefined when the control plane runs without TLS. */
  security?: Security;
  /** The live control-plane replicas (set once this replica has registered). */
  replicas?: ReplicaRegistry;
  /** Whether etcd answers lately: listings say when they show an old view. */
  health: EtcdHealth;
  /** Scheduled jobs (docs/scheduled-jobs.md). */
  jobs: JobStore;
  /** Clients of the agents' services (one-off runs, logs). */
  dialer: AgentDialer;
  /** This replica's Prometheus metrics (docs/metrics.md). */
  metrics: ControlPlaneMetrics;
}
