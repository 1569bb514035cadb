/**
 * Which replicas keep which slug on disk: `slugholders/<digest>/<replicaId>` → the
 * replica's address, under a lease of this replica's own. A replica that dies (even
 * SIGKILL) stops being named as a holder once its lease expires; a clean close revokes
 * it at once. When the lease is lost (etcd was unreachable for longer than its TTL)
 * every slug this replica announced is announced again under a new one.
 */
import type { Etcd3, Lease } from 'etcd3';
import type { Logger } from '../../lib/log';
import type { Keys } from '../keys';
import { decode } from '../records';
import { RetryDelay } from '../../lib/retry-delay';

/** A replica that holds a slug. */
export interface SlugHolder {
  replicaId: string;
  address: string;
}

const RETRY_MIN_MS = 1_000;
const RETRY_MAX_MS = 30_000;

export class SlugHolders {
  private lease?: Lease;
  private readonly announced = new Set<string>();
  private retryTimer?: NodeJS.Timeout;
  // Capped backoff with jitter: an etcd outage of any length costs one timer, not a growing queue.
  private readonly retryDelay = new RetryDelay({ initialMs: RETRY_MIN_MS, maxMs: RETRY_MAX_MS });
  private closed = false;

  constructor(
    private readonly client: Etcd3,
    private readonly keys: Keys,
    private readonly self: SlugHolder,
    private readonly logger: Logger,
    private readonly ttlSeconds = 10,
  ) {}

  /** Records that this replica holds `digest` (idempotent). */
  async announce(digest: string): Promise<void> {
    if (this.closed) return;
    this.announced.add(digest);
    await this.currentLease().put(this.keys.slugHolder(digest, this.self.replicaId)).value(JSON.stringify(this.self));
  }

  /** Records that this replica no longer holds `digest`. */
  async withdraw(digest: string): Promise<void> {
    this.announced.delete(digest);
    if (this.closed) return;
    await this.client.delete().key(this.keys.slugHolder(digest, this.self.replicaId));
  }

  /** The replicas recorded as holding `digest`, this one excluded. */
  async holders(digest: string): Promise<SlugHolder[]> {
    const values = await this.client.getAll().prefix(this.keys.slugHolders(digest)).buffers();
    const out: SlugHolder[] = [];
    for (const raw of Object.values(values)) {
      const holder = decode<SlugHolder>(raw);
      if (holder && typeof holder.address === 'string' && typeof holder.replicaId === 'string' && holder.replicaId !== this.self.replicaId) {
        out.push({ replicaId: holder.replicaId, address: holder.address });
      }
    }
    return out;
  }

  /** Stops announcing and revokes the lease, so the records vanish at once. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.retryTimer);
    const lease = this.lease;
    this.lease = undefined;
    // client.close() alone would keep the lease alive (docs/stack-notes.md): revoke it.
    await lease?.revoke().catch(() => undefined);
  }

  private currentLease(): Lease {
    if (this.lease) return this.lease;
    const lease = this.client.lease(this.ttlSeconds, { autoKeepAlive: true });
    this.lease = lease;
    lease.on('lost', (err) => {
      if (this.closed || this.lease !== lease) return;
      this.logger.warn({ err: err.message }, 'slug holder lease lost: announcing held slugs again');
      this.lease = undefined;
      this.scheduleReannounce();
    });
    return lease;
  }

  private scheduleReannounce(): void {
    if (this.closed) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.reannounce().then(
        () => this.retryDelay.reset(),
        (err: unknown) => {
          this.logger.warn({ err: (err as Error).message }, 'announcing held slugs failed; retrying');
          const failed = this.lease;
          this.lease = undefined;
          failed?.revoke().catch(() => undefined);
          this.scheduleReannounce();
        },
      );
    }, this.retryDelay.next());
  }

  private async reannounce(): Promise<void> {
    for (const digest of [...this.announced]) await this.announce(digest);
  }
}
