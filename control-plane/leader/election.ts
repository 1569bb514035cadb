/**
 * Leader election among control-plane replicas: whoever creates the leader key (under
 * its own lease) leads. The etcd3 election observer can name the wrong leader when two
 * candidates campaign close together (docs/stack-notes.md), so leadership is decided here
 * by a `create_revision == 0` transaction, and the leader's writes are fenced by the
 * create revision of its key.
 */
import { EventEmitter } from 'node:events';
import type { Etcd3, Lease, Watcher } from 'etcd3';
import type { Logger } from '../../lib/log';
import { createdAt } from '../etcd/batch';
import type { ICompare } from 'etcd3/lib/rpc';
import { jittered } from '../../lib/retry-delay';

export type ElectionState = 'follower' | 'leader' | 'closed';

export class LeaderElection extends EventEmitter<{ elected: []; deposed: [] }> {
  state: ElectionState = 'follower';
  private lease?: Lease;
  private leaderRevision = '0';
  private retryTimer?: NodeJS.Timeout;
  private campaigning = false;
  private watcher?: Watcher;

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
    this.client
      .watch()
      .key(this.key)
      .create()
      .then((watcher) => {
        watcher.on('delete', () => this.campaignInBackground());
        watcher.on('error', (err) => this.logger.warn({ err }, 'leader watch failed'));
        // Closed meanwhile: a watch that fails to cancel is of no interest any more.
        if (this.state === 'closed') watcher.cancel().catch(() => undefined);
        else this.watcher = watcher;
      })
      .catch((err: unknown) => this.logger.error({ err }, 'could not watch the leader key'));
  }

  /** A compare that holds only while this replica still leads: guard every leader write with it. */
  fence(): ICompare {
    return createdAt(this.key, this.leaderRevision);
  }

  /** Steps down (revoking the lease so another replica takes over at once). */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    const wasLeader = this.state === 'leader';
    this.state = 'closed';
    this.watcher?.cancel().catch(() => undefined);
    clearTimeout(this.retryTimer);
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
        .commit();
      if (this.isClosed()) return void (await lease.revoke().catch(() => undefined));
      if (res.succeeded && this.state === 'follower') {
        this.leaderRevision = res.header.revision;
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
