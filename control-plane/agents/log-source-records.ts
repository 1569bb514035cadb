/**
 * Writes `logsources/<app>/<agent>`: the hosts `cluster logs` asks for an app's lines.
 *
 * They live under a lease of their own per agent (`logleases/<agent>` holds its id, under that
 * same lease), not under the agent's registration lease: a host's lines stay on its disk while
 * its agent restarts, is upgraded or is cut off, and `cluster logs` must name such a host
 * ("not registered now") instead of silently answering without it. The lease is renewed by
 * the agent's heartbeats (the first after a registration, then hourly), so the records fade
 * `ttlSeconds` (a day by default) after the agent was last heard of: a host taken out of service
 * is no longer named.
 *
 * A status report names the apps it carries; each (agent, app) is written once under a lease
 * (log-source-memo.ts), in transactions shared with other agents' (merged-commits.ts).
 */
import type { Etcd3 } from 'etcd3';
import type { Logger } from '../../lib/log';
import { commitInChunks, unchangedSince, type WriteOp } from '../etcd/batch';
import type { LeaseKeeper } from '../etcd/lease-keeper';
import { MergedCommits } from '../etcd/merged-commits';
import type { Keys } from '../keys';
import { LogSourceMemo } from './log-source-memo';

/** How long a host stays a log source after its agent was last heard of (seconds). */
export const DEFAULT_LOG_SOURCE_TTL_SECONDS = 24 * 3600;
/** Apps recorded at most per registration. */
const MAX_APPS_PER_REGISTRATION = 10_000;
/** Renewed at least this often while the agent heartbeats, and at most a quarter of the TTL apart. */
const MAX_RENEW_INTERVAL_MS = 3600_000;

interface KnownLease {
  id: string;
  renewedAtMs: number;
}

export class LogSourceRecords {
  private readonly memo = new LogSourceMemo();
  private readonly leaseOf = new Map<string, KnownLease>();
  /** Renewals under way, so a heartbeat does not start a second one. */
  private readonly renewing = new Set<string>();
  /** Lookups under way, so a registration and a report of one agent read (or make) its lease once. */
  private readonly lookups = new Map<string, Promise<string>>();
  private readonly writes: MergedCommits;
  private readonly renewEveryMs: number;

  constructor(
    private readonly client: Etcd3,
    private readonly keys: Keys,
    private readonly leases: LeaseKeeper,
    private readonly logger: Logger,
    private readonly ttlSeconds = DEFAULT_LOG_SOURCE_TTL_SECONDS,
  ) {
    this.writes = new MergedCommits(client);
    this.renewEveryMs = Math.min(MAX_RENEW_INTERVAL_MS, (ttlSeconds * 1000) / 4);
  }

  /**
   * At a registration: finds the agent's lease (or makes one) and gives the puts of every app
   * it keeps lines of, known or not, to commit with the registration itself: each put tells a
   * `cluster logs -f` under way that the host is back, and it must find the host registered.
   * `settled` is told whether they were committed. A lease found is renewed at the next
   * heartbeat, not here: a registration waits for one read at most (none when this replica
   * renewed the lease lately), and none at all when the agent keeps no lines yet (a new agent:
   * its lease is made meanwhile, for its first report).
   */
  async atRegistration(agentId: string, apps: readonly string[]): Promise<{ ops: WriteOp[]; settled: (committed: boolean) => void }> {
    if (apps.length === 0) {
      this.leaseFor(agentId).catch((err: unknown) => this.logger.warn({ err, agent: agentId }, 'could not make the lease of an agent\'s log sources'));
      return { ops: [], settled: () => undefined };
    }
    const lease = await this.leaseFor(agentId);
    const list = apps.slice(0, MAX_APPS_PER_REGISTRATION);
    return {
      ops: this.putsOf(agentId, lease, list),
      // Not committed: the lease may be gone (expired while this replica remembered it).
      settled: (committed) => (committed ? this.memo.recorded(agentId, lease, list) : this.forget(agentId)),
    };
  }

  /** A status report named `apps`: writes those not yet written under the agent's lease. */
  async reported(agentId: string, apps: Iterable<string>): Promise<void> {
    const lease = await this.leaseFor(agentId);
    const missing = this.memo.missing(agentId, lease, apps);
    if (missing.length > 0) await this.write(agentId, lease, missing);
  }

  /** The agent heartbeats: its lease is renewed when due (in the background; failures are logged). */
  heard(agentId: string): void {
    const known = this.leaseOf.get(agentId);
    if (known && Date.now() - known.renewedAtMs < this.renewEveryMs) return;
    if (this.renewing.has(agentId)) return;
    this.renewing.add(agentId);
    this.currentLease(agentId, true)
      .catch((err: unknown) => this.logger.warn({ err, agent: agentId }, 'could not renew the lease of an agent\'s log sources'))
      .finally(() => this.renewing.delete(agentId));
  }

  private async write(agentId: string, lease: string, apps: readonly string[]): Promise<void> {
    if (apps.length === 0) return;
    try {
      await this.writes.commit([], this.putsOf(agentId, lease, apps));
      this.memo.recorded(agentId, lease, apps);
    } catch (err) {
      // Its lease may have expired under it (etcd unreachable for longer than the TTL): the next
      // report or heartbeat starts over with a lease read or made anew.
      this.forget(agentId);
      throw err;
    }
  }

  /** currentLease(agentId, false), once at a time per agent. */
  private leaseFor(agentId: string): Promise<string> {
    let lookup = this.lookups.get(agentId);
    if (!lookup) {
      lookup = this.currentLease(agentId, false).finally(() => this.lookups.delete(agentId));
      this.lookups.set(agentId, lookup);
    }
    return lookup;
  }

  private putsOf(agentId: string, lease: string, apps: readonly string[]): WriteOp[] {
    return apps.map((app) => ({ put: this.keys.logSource(app, agentId), value: '', lease }));
  }

  private forget(agentId: string): void {
    this.leaseOf.delete(agentId);
    this.memo.forget(agentId);
  }

  /**
   * The agent's log-source lease: the one known here, else the one in etcd, else a new one.
   * With `renew`, a lease found is renewed first (and replaced if it has expired).
   */
  private async currentLease(agentId: string, renew: boolean): Promise<string> {
    const known = this.leaseOf.get(agentId);
    // Surely alive when renewed here within half its TTL; otherwise etcd says (its key goes with it).
    if (known && !renew && Date.now() - known.renewedAtMs < (this.ttlSeconds * 1000) / 2) return known.id;
    const key = this.keys.logLease(agentId);
    const found = (renew ? known?.id : undefined) ?? (await this.client.get(key).string()) ?? undefined;
    if (found && !renew) return this.remember(agentId, found, false);
    if (found && (await this.leases.renew(found)) > 0) return this.remember(agentId, found, true);
    if (found) this.forget(agentId);
    const granted = await this.leases.grant(this.ttlSeconds);
    // Created only if absent (or gone with its lease): two replicas may race at a failover.
    const created = await commitInChunks(this.client, [{ put: key, value: granted, lease: granted }], [unchangedSince(key, '0')]);
    if (created !== undefined) return this.remember(agentId, granted, true);
    await this.client.leaseClient.leaseRevoke({ ID: granted }).catch(() => undefined);
    const theirs = await this.client.get(key).string();
    if (!theirs) throw new Error(`the log-source lease of agent ${agentId} vanished while it was made`);
    return this.remember(agentId, theirs, false);
  }

  /** `renewed`: granted or renewed just now; otherwise the next heartbeat renews it. */
  private remember(agentId: string, id: string, renewed: boolean): string {
    const known = this.leaseOf.get(agentId);
    if (known?.id !== id) this.memo.forget(agentId);
    this.leaseOf.set(agentId, { id, renewedAtMs: renewed ? Date.now() : 0 });
    return id;
  }
}
