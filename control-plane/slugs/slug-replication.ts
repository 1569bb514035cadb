/**
 * Slug storage and replication of one replica, wired together. It exists before the
 * server listens (handlers need it) and starts once the replica knows its id and address;
 * calls that arrive in between wait for that.
 */
import type { Etcd3 } from 'etcd3';
import type { Logger } from '../../lib/log';
import type { StaticCertificateProvider } from '../../lib/tls';
import type { SlugReplicationHandlers } from '../../proto/gen/cluster/slugs/SlugReplication';
import type { Keys } from '../keys';
import { SlugHolders } from './slug-holders';
import { SlugMaintenance, type SlugMaintenanceOptions } from './slug-maintenance';
import { SlugPeers } from './slug-peers';
import { slugReplicationService } from './slug-replication-service';
import { SlugReplicator, type ReplicaSet } from './slug-replicator';
import { SlugStore } from './slug-store';

export interface SlugReplicationOptions extends SlugMaintenanceOptions {
  /** TTL of this replica's slug-holder records, in seconds (default 10). */
  holderTtlSeconds?: number;
}

export class SlugReplication {
  readonly store: SlugStore;
  private peers?: SlugPeers;
  private readonly ready: Promise<SlugReplicator>;
  private resolveReady!: (replicator: SlugReplicator) => void;
  private rejectReady!: (err: Error) => void;
  private holders?: SlugHolders;
  private maintenance?: SlugMaintenance;
  private closing?: Promise<void>;

  constructor(
    dataDir: string,
    private readonly client: Etcd3,
    private readonly keys: Keys,
    private readonly logger: Logger,
    private readonly opts: SlugReplicationOptions = {},
  ) {
    this.store = new SlugStore(dataDir);
    this.ready = new Promise((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    this.ready.catch(() => undefined); // a close before start is not an unhandled rejection
  }

  /** The replicator, once started. */
  replicator(): Promise<SlugReplicator> {
    return this.ready;
  }

  /** What this replica serves the others. */
  service(): SlugReplicationHandlers {
    return slugReplicationService(() => this.ready, this.logger);
  }

  /**
   * Starts announcing, replicating and the background sync and GC. With `tls`, other
   * replicas are dialled over mutual TLS with this replica's certificate.
   */
  start(replicas: ReplicaSet, selfAddress: string, tls?: StaticCertificateProvider): SlugReplicator {
    if (this.holders) throw new Error('slug replication started twice');
    this.peers = new SlugPeers(tls);
    this.holders = new SlugHolders(this.client, this.keys, { replicaId: replicas.selfId, address: selfAddress }, this.logger, this.opts.holderTtlSeconds);
    const replicator = new SlugReplicator({ store: this.store, holders: this.holders, peers: this.peers, replicas, selfAddress, logger: this.logger });
    this.maintenance = new SlugMaintenance(this.client, this.keys, replicator, this.holders, this.logger, this.opts);
    this.maintenance.start();
    this.resolveReady(replicator);
    return replicator;
  }

  /** One maintenance pass now (tests, and after a change worth acting on at once). */
  async maintain(): Promise<void> {
    await this.maintenance?.runOnce();
  }

  /** Stops the background work and withdraws this replica's holder records; idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.rejectReady(new Error('the control plane is shutting down'));
      const stopping = this.maintenance?.close(); // no further pass, nor further slug in this one
      this.peers?.close(); // cancels transfers in flight: a shutdown never waits for one
      await stopping?.catch(() => undefined);
      await this.holders?.close().catch(() => undefined);
    })();
    return this.closing;
  }
}
