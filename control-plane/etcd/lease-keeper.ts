/**
 * Grants and renews agents' etcd leases by ID over one shared keepalive stream.
 *
 * An agent's lease lives in etcd, not in this process: any control-plane replica can
 * renew it, so an agent keeps its lease (and its instances keep their status) when the
 * replica it talks to dies and it reconnects to another.
 */
import type { Etcd3 } from 'etcd3';
import type { IDuplexStream, ILeaseKeepAliveRequest, ILeaseKeepAliveResponse } from 'etcd3/lib/rpc';
import type { Logger } from '../../lib/log';

type KeepAliveStream = IDuplexStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse>;

interface Pending {
  resolve: (ttl: number) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

const RENEW_TIMEOUT_MS = 3_000;

export class LeaseKeeper {
  private stream?: Promise<KeepAliveStream>;
  // etcd answers keepalives of one stream in order, per lease ID.
  private readonly pending = new Map<string, Pending[]>();
  private closed = false;

  constructor(private readonly client: Etcd3, private readonly logger: Logger) {}

  /** A new lease of `ttlSeconds`; returns its ID. */
  async grant(ttlSeconds: number): Promise<string> {
    const res = await this.client.leaseClient.leaseGrant({ TTL: ttlSeconds });
    return res.ID;
  }

  /** Renews `leaseId`; resolves to its remaining TTL in seconds, ≤ 0 when it has expired. */
  async renew(leaseId: string): Promise<number> {
    if (this.closed) throw new Error('lease keeper closed');
    const stream = await this.openStream();
    return new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.dropPending(leaseId, entry);
        reject(new Error(`etcd did not answer a keepalive for lease ${leaseId} in ${RENEW_TIMEOUT_MS} ms`));
      }, RENEW_TIMEOUT_MS);
      const entry: Pending = { resolve, reject, timer };
      const queue = this.pending.get(leaseId) ?? [];
      queue.push(entry);
      this.pending.set(leaseId, queue);
      stream.write({ ID: leaseId });
    });
  }

  /** Revokes a lease: every key attached to it vanishes at once. */
  async revoke(leaseId: string): Promise<void> {
    await this.client.leaseClient.leaseRevoke({ ID: leaseId }).catch((err: unknown) => {
      this.logger.debug({ err, leaseId }, 'lease revoke failed (already gone?)');
    });
  }

  close(): void {
    this.closed = true;
    this.failAll(new Error('lease keeper closed'));
    void this.stream?.then((s) => s.end(), () => undefined);
    this.stream = undefined;
  }

  private openStream(): Promise<KeepAliveStream> {
    if (this.stream) return this.stream;
    const opening = this.client.leaseClient.leaseKeepAlive().then((stream) => {
      stream.on('data', (res: ILeaseKeepAliveResponse) => this.answer(res.ID, Number(res.TTL)));
      const broken = (err?: Error) => {
        if (this.stream === opening) this.stream = undefined;
        this.failAll(err ?? new Error('etcd keepalive stream ended'));
      };
      stream.on('error', broken);
      stream.on('end', () => broken());
      return stream;
    });
    opening.catch(() => {
      if (this.stream === opening) this.stream = undefined;
    });
    this.stream = opening;
    return opening;
  }

  private answer(leaseId: string, ttl: number): void {
    const queue = this.pending.get(leaseId);
    const entry = queue?.shift();
    if (queue && queue.length === 0) this.pending.delete(leaseId);
    if (!entry) return;
    clearTimeout(entry.timer);
    entry.resolve(ttl);
  }

  private dropPending(leaseId: string, entry: Pending): void {
    const queue = this.pending.get(leaseId);
    if (!queue) return;
    const index = queue.indexOf(entry);
    if (index >= 0) queue.splice(index, 1);
    if (queue.length === 0) this.pending.delete(leaseId);
  }

  private failAll(err: Error): void {
    for (const queue of this.pending.values()) {
      for (const entry of queue) {
        clearTimeout(entry.timer);
        entry.reject(err);
      }
    }
    this.pending.clear();
  }
}
