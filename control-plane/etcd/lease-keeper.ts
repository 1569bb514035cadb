/**
 * Grants and renews agents' etcd leases by ID over a few shared keepalive streams
 * (shared-keepalives.ts; and, for leases that may have expired, a stream of their own: see
 * renew()).
 *
 * An agent's lease lives in etcd, not in this process: any control-plane replica can
 * renew it, so an agent keeps its lease (and its instances keep their status) when the
 * replica it talks to dies and it reconnects to another.
 */
import type { Etcd3 } from 'etcd3';
import type { ILeaseKeepAliveResponse } from 'etcd3/lib/rpc';
import type { Logger } from '../../lib/log';
import { EtcdUnavailableError } from '../errors';
import { isUnreachable } from './client';
import { openKeepAliveStream } from './keepalive-stream';
import { RENEW_TIMEOUT_MS, SharedKeepAlives } from './shared-keepalives';

/** A renewal that failed this fast found a dead member, not a slow one: worth one more try. */
const FAST_FAILURE_MS = 500;
const DEAD_MEMBER_RETRIES = 2;
/**
 * A lease granted or renewed less than this share of its TTL ago is surely alive (with room
 * for a renewal that waits a while in a busy etcd), and is renewed on the shared streams (and
 * written again there when a stream breaks); any other may have expired (see renew()). Agents
 * heartbeat well within it (1 s against 4 s).
 */
const SURELY_ALIVE_SHARE = 2 / 3;

export class LeaseKeeper {
  private readonly shared: SharedKeepAlives;
  /** Until when each lease this replica granted or renewed is surely alive (ms since the epoch). */
  private readonly aliveUntil = new Map<string, number>();
  private readonly oneShots = new Set<{ cancel(): void }>();
  private sweepAt = 1024;
  private closed = false;

  private readonly renewTimeoutMs: number;

  /** `renewTimeoutMs`: how long a renewal waits for etcd's answer (3 s; tests may wait longer). */
  constructor(private readonly client: Etcd3, private readonly logger: Logger, opts: { renewTimeoutMs?: number } = {}) {
    this.renewTimeoutMs = opts.renewTimeoutMs ?? RENEW_TIMEOUT_MS;
    this.shared = new SharedKeepAlives(client, (leaseId) => this.surelyAlive(leaseId), this.renewTimeoutMs);
  }

  /** A new lease of `ttlSeconds`; returns its ID. */
  async grant(ttlSeconds: number): Promise<string> {
    const res = await this.client.leaseClient.leaseGrant({ TTL: ttlSeconds });
    this.noteAlive(res.ID, Number(res.TTL) || ttlSeconds);
    return res.ID;
  }

  /**
   * Renews `leaseId`; resolves to its remaining TTL in seconds, ≤ 0 when it has expired.
   *
   * etcd serves the keepalives of one stream one after the other, and the renewal of a lease
   * that has expired but is not revoked yet waits until its revocation went through raft
   * (seconds under load, and revocations are rate-limited): on a shared stream it would hold
   * up every other agent's renewal until their leases expire too, and so on. So only leases
   * known to be alive (granted or renewed here recently: SURELY_ALIVE_SHARE) use the shared
   * streams; any other gets a keepalive stream of its own.
   */
  async renew(leaseId: string): Promise<number> {
    if (this.closed) throw new Error('lease keeper closed');
    // Not a lease ID etcd could have given out (e.g. an agent that sent none): never alive.
    // Writing it would fail to serialise and break the keepalive stream every agent shares.
    if (!/^[1-9][0-9]{0,19}$/.test(leaseId)) return 0;
    const ttl = await this.renewRetryingDeadMembers(leaseId);
    if (ttl > 0) this.noteAlive(leaseId, ttl);
    else this.aliveUntil.delete(leaseId);
    return ttl;
  }

  /**
   * A member that just died fails a keepalive stream at once, and the pool picks members at
   * random until it has seen one fail a few times (etcd/client.ts): try again on a new stream
   * while failures are that fast, so an agent's heartbeat lands on a live member well within
   * its TTL. A slow failure (etcd busy or without quorum) is not retried.
   */
  private async renewRetryingDeadMembers(leaseId: string): Promise<number> {
    for (let attempt = 0; ; attempt++) {
      const started = Date.now();
      try {
        if (attempt === 0 && this.surelyAlive(leaseId)) return await this.shared.renew(leaseId);
        return await this.renewAlone(leaseId);
      } catch (err) {
        const fast = Date.now() - started <= FAST_FAILURE_MS;
        if (!(err instanceof Error) || !isUnreachable(err) || !fast || attempt >= DEAD_MEMBER_RETRIES || this.closed) throw err;
      }
    }
  }

  private surelyAlive(leaseId: string): boolean {
    return (this.aliveUntil.get(leaseId) ?? 0) > Date.now();
  }

  private noteAlive(leaseId: string, ttlSeconds: number): void {
    const now = Date.now();
    this.aliveUntil.set(leaseId, now + ttlSeconds * 1000 * SURELY_ALIVE_SHARE);
    // Leases that were simply let go (agents that went away) would stay forever otherwise.
    if (this.aliveUntil.size >= this.sweepAt) {
      for (const [id, until] of this.aliveUntil) if (until < now) this.aliveUntil.delete(id);
      this.sweepAt = Math.max(1024, 2 * this.aliveUntil.size);
    }
  }

  /** One keepalive on a stream of its own, so that a slow answer holds up nobody else. */
  private async renewAlone(leaseId: string): Promise<number> {
    const stream = await openKeepAliveStream(this.client);
    // Half-closed, never cancelled: etcd3 treats an error on a writable stream (a cancel is one)
    // as a failed member, a count towards its breaker (stream-failures.ts).
    const handle = { cancel: () => stream.end() };
    this.oneShots.add(handle);
    try {
      return await new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new EtcdUnavailableError(`no answer to a lease keepalive in ${this.renewTimeoutMs} ms`)), this.renewTimeoutMs);
        stream.on('data', (res: ILeaseKeepAliveResponse) => {
          clearTimeout(timer);
          resolve(Number(res.TTL));
        });
        stream.on('error', (err: Error) => {
          clearTimeout(timer);
          reject(err);
        });
        stream.on('end', () => {
          clearTimeout(timer);
          reject(new EtcdUnavailableError('the lease keepalive stream ended'));
        });
        stream.write({ ID: leaseId });
      });
    } finally {
      this.oneShots.delete(handle);
      handle.cancel();
    }
  }

  /** Renewals written again on another stream because theirs broke (tests, diagnosis). */
  get resentRenewals(): number {
    return this.shared.resent;
  }

  /** Revokes a lease: every key attached to it vanishes at once. */
  async revoke(leaseId: string): Promise<void> {
    this.aliveUntil.delete(leaseId);
    await this.client.leaseClient.leaseRevoke({ ID: leaseId }).catch((err: unknown) => {
      this.logger.debug({ err, leaseId }, 'lease revoke failed (already gone?)');
    });
  }

  close(): void {
    this.closed = true;
    this.shared.close();
    for (const oneShot of this.oneShots) oneShot.cancel();
    this.oneShots.clear();
    this.aliveUntil.clear();
  }
}
