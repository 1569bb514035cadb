/**
 * Leader election among control-plane replicas: whoever creates the leader key (under
 * its own lease) leads. The etcd3 election observer can name the wrong leader when two
 * candidates campaign close together (docs/stack-notes.md), so leadership is decided here
 * by a `create_revision == 0` transaction, and the leader's writes are fenced by the
 * create revision of its key.
 *
 * A follower learns that the leader went from a watch on the key. That watch is re-made from a
 * fresh read whenever it fails (etcd cancels a watch whose resume revision was compacted away,
 * as after an etcd restart once the leader has led longer than the kept history), and a slow
 * check of the key backs it up: a follower that stops noticing would leave the cluster without
 * a scheduler once the leader dies.
 */
import { EventEmitter } from 'node:events';
import type { Etcd3, Lease, Watcher } from 'etcd3';
import type { Logger } from '../../lib/log';
import { createdAt } from '../etcd/batch';
import type { ICompare } from 'etcd3/lib/rpc';
import { jittered } from '../../lib/retry-delay';

/** A follower reads the leader key this often (jittered) in case its watch missed the key's end. */
export const LEADER_CHECK_MS = 10_000;

export type ElectionState = 'follower' | 'leader' | 'closed';

export class LeaderElection extends EventEmitter<{ elected: []; deposed: [] }> {
  state: ElectionState = 'follower';
  private lease?: Lease;
  private leaderRevision = '0';
  private retryTimer?: NodeJS.Timeout;
  private campaigning = false;
  private watcher?: Watcher;
  private rewatchTimer?: NodeJS.Timeout;
  private checkTimer?: NodeJS.Timeout;

  constructor(
    private readonly client: Etcd3,
    private readonly key: string,
    private readonly id: string,
    private readonly ttlSeconds: number,
    private readonly logger: Logger,
  ) {
    super();
  }

  /** Campaigns now and again whenever the leader key disappears. */
  start(): void {
    this.campaignInBackground();
    this.watchKey();
    this.scheduleCheck();
  }

  /**
   * Watches the leader key from a fresh read of it (campaigning when it is absent), again after
   * any failure of the watch: a watch that ended would never say that the leader left.
   */
  private watchKey(): void {
    if (this.isClosed()) return;
    const retry = (err: unknown, message: string) => {
      if (this.isClosed()) return;
      this.logger.warn({ err }, message);
      clearTimeout(this.rewatchTimer);
      this.rewatchTimer = setTimeout(() => this.watchKey(), jittered(1_000));
    };
    (async () => {
      const res = await this.client.kv.range({ key: Buffer.from(this.key) });
      if (res.kvs.length === 0) this.campaignInBackground();
      const watcher = await this.client.watch().key(this.key).startRevision(String(Number(res.header.revision) + 1)).create();
      // Closed meanwhile: a watch that fails to cancel is of no interest any more.
      if (this.isClosed()) return void watcher.cancel().catch(() => undefined);
      this.watcher = watcher;
      watcher.on('delete', () => this.campaignInBackground());
      watcher.on('error', (err) => {
        if (this.watcher !== watcher) return;
        this.watcher = undefined;
        watcher.cancel().catch(() => undefined);
        retry(err, 'leader watch failed; watching the key again');
      });
    })().catch((err: unknown) => retry(err, 'could not watch the leader key; retrying'));
  }

  /** The watch's backstop: a follower that finds no leader key campaigns. */
  private scheduleCheck(): void {
    this.checkTimer = setTimeout(() => {
      if (this.isClosed()) return;
      this.scheduleCheck();
      if (this.state !== 'follower' || this.campaigning) return;
      this.client.kv.range({ key: Buffer.from(this.key), count_only: true }).then(
        (res) => {
          if (Number(res.count) !== 0) return;
          this.logger.warn('no leader key, yet the leader watch said nothing; campaigning');
          this.campaignInBackground();
        },
        () => undefined, // etcd away: the campaign's own retries and the next check cover it
      );
    }, jittered(LEADER_CHECK_MS));
  }

  /**
   * The leader found its fence gone (a write refused: its key expired or was replaced) before
   * its lease said so: it stops leading now, lets the lease go and campaigns again.
   */
  stepDown(term: string): void {
    // A write of an earlier term that failed must not depose the term elected since.
    if (this.state !== 'leader' || term !== this.leaderRevision) return;
    this.state = 'follower';
    this.logger.warn('stepping down: the leader key is no longer this replica\'s');
    const lease = this.lease;
    this.lease = undefined;
    lease?.revoke().catch(() => undefined);
    this.emit('deposed');
    this.retryCampaign(500);
  }

  /** A compare that holds only while this replica still leads: guard every leader write with it. */
  fence(): ICompare {
    return createdAt(this.key, this.leaderRevision);
  }

  /** This replica's current term (the revision its leader key was created at), for stepDown. */
  term(): string {
    return this.leaderRevision;
  }

  /** Steps down (revoking the lease so another replica takes over at once). */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    const wasLeader = this.state === 'leader';
    this.state = 'closed';
    this.watcher?.cancel().catch(() => undefined);
    clearTimeout(this.retryTimer);
    clearTimeout(this.rewatchTimer);
    clearTimeout(this.checkTimer);
    if (wasLeader) this.emit('deposed');
    // client.close() does not stop lease keepalives: revoke first (docs/stack-notes.md).
    await this.lease?.revoke().catch(() => undefined);
    this.lease = undefined;
  }

  /** Campaigns without waiting. campaign() retries the failures it expects; anything else is logged and retried too. */
  private campaignInBackground(): void {
    this.campaign().catch((err: unknown) => {
      this.logger.error({ err }, 'bug: campaign failed; retrying');
      if (!this.isClosed()) this.retryCampaign(1_000);
    });
  }

  private async campaign(): Promise<void> {
    if (this.state !== 'follower' || this.campaigning) return;
    this.campaigning = true;
    try {
      const lease = this.lease ?? this.newLease();
      const leaseId = await lease.grant();
      // close() may have run while we waited: a lease it did not see would keep the
      // process alive with its keepalives (docs/stack-notes.md), so let it go here.
      if (this.isClosed()) return void (await lease.revoke().catch(() => undefined));
      const res = await this.client
        .if(this.key, 'Create', '==', 0)
        .then(this.client.put(this.key).value(this.id).lease(leaseId))
        .else(this.client.get(this.key))
        .commit();
      if (this.isClosed()) return void (await lease.revoke().catch(() => undefined));
      // A key under our own lease is ours: an earlier attempt committed though its answer was
      // lost (a deadline, or the client retrying it on another member), and nobody else could
      // ever delete it while we keep the lease alive.
      const held = res.succeeded ? undefined : res.responses[0]?.response_range?.kvs[0];
      const revision = res.succeeded ? res.header.revision : held?.lease === leaseId ? held.create_revision : undefined;
      if (revision !== undefined && this.state === 'follower') {
        this.leaderRevision = revision;
        this.state = 'leader';
        this.logger.info({ revision: this.leaderRevision }, 'elected leader: this replica schedules');
        this.emit('elected');
      }
    } catch (err) {
      if (this.isClosed()) return;
      this.logger.warn({ err }, 'campaign failed; retrying');
      this.retryCampaign(1_000);
    } finally {
      this.campaigning = false;
    }
  }

  /**
   * One pending retry at most: a failed grant both emits 'lost' and fails the campaign, and two
   * timers per failure doubled the campaigns every second while etcd was away (issue 9: 800 MB).
   */
  private retryCampaign(delayMs: number): void {
    clearTimeout(this.retryTimer);
    // Jittered: replicas that lost etcd together must not campaign in lockstep when it returns.
    this.retryTimer = setTimeout(() => this.campaignInBackground(), jittered(delayMs));
  }

  private isClosed(): boolean {
    return this.state === 'closed';
  }

  private newLease(): Lease {
    const lease = this.client.lease(this.ttlSeconds, { autoKeepAlive: true });
    lease.on('lost', (err) => {
      this.logger.warn({ err }, 'leader lease lost');
      if (this.lease === lease) this.lease = undefined;
      if (this.state === 'leader') {
        this.state = 'follower';
        this.emit('deposed');
      }
      if (this.state === 'follower') this.retryCampaign(500);
    });
    this.lease = lease;
    return lease;
  }
}
