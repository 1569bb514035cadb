/**
 * Whether this replica can read etcd right now, and since when it cannot: the answer to "is
 * what the mirrors show current?". One linearizable read a second (it needs a quorum, unlike
 * a status request), never more than one in flight, so a long outage costs nothing that grows.
 */
import type { Etcd3 } from 'etcd3';
import type { Logger } from '../../lib/log';
import { asEtcdOutage } from './outage';
import { PrefixMirror } from './mirror';

const PROBE_EVERY_MS = 1_000;
const PROBE_DEADLINE_MS = 2_000;
/** A view last confirmed longer ago than this is shown as stale. */
export const STALE_AFTER_MS = 3_000;
/** How soon a read that found etcd unreachable is tried again while the view is not stale. */
const READ_RETRY_MS = 200;

export interface Staleness {
  /** How old the view may be: since etcd last answered. */
  ageMs: number;
  /** "etcd is unreachable from the control plane (…)". */
  message: string;
}

export class EtcdHealth {
  private lastOkMs = Date.now();
  private lastFailedMs = 0;
  private lastProblem = '';
  private timer?: NodeJS.Timeout;
  private closed = false;
  /** etcd's revision at the last probe (0: none yet). */
  private lastRevision = 0;
  /** The mirrors being read afresh after etcd's data was replaced. */
  private rereading?: Promise<void>;

  constructor(private readonly client: Etcd3, private readonly probeKey: string, private readonly logger: Logger) {}

  start(): void {
    this.schedule();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }

  /**
   * When this replica last found etcd unreachable (epoch ms; 0: never): by the probe, or by
   * any request that failed for that reason (noteOutage). Agents could not renew their
   * leases through it then, so the leader does not count that time against them.
   */
  get lastOutageMs(): number {
    return this.lastFailedMs;
  }

  /** A request found etcd unreachable (an agent's heartbeat, say). */
  noteOutage(nowMs = Date.now()): void {
    this.lastFailedMs = Math.max(this.lastFailedMs, nowMs);
  }

  /**
   * `read`, tried again every READ_RETRY_MS while it fails for want of etcd, for at most
   * STALE_AFTER_MS from the first try and only while this replica's view is not stale (the
   * probe read etcd less than STALE_AFTER_MS ago); then its last error. A blip (a leader
   * election: one to a few seconds without answers) delays the answer instead of turning it into
   * a stale one; a real outage is stale after the same time as ever.
   */
  async throughBlips<T>(read: () => Promise<T>): Promise<T> {
    const until = Date.now() + STALE_AFTER_MS;
    for (;;) {
      try {
        return await read();
      } catch (err) {
        if (!asEtcdOutage(err) || Date.now() + READ_RETRY_MS >= until || this.staleness() !== undefined || this.closed) throw err;
        await new Promise((resolve) => setTimeout(resolve, READ_RETRY_MS));
      }
    }
  }

  /** Undefined while etcd answers; otherwise how old this replica's view may be, and why. */
  staleness(now = Date.now()): Staleness | undefined {
    const ageMs = now - this.lastOkMs;
    if (ageMs < STALE_AFTER_MS) return undefined;
    return { ageMs, message: this.lastProblem || 'etcd is unreachable from the control plane (no answer)' };
  }

  private schedule(): void {
    if (this.closed) return;
    // probe() handles etcd's failures and schedules the next probe itself, also after a bug.
    this.timer = setTimeout(() => {
      this.probe().catch((err: unknown) => this.logger.error({ err }, 'bug: probing etcd failed'));
    }, PROBE_EVERY_MS);
    this.timer.unref();
  }

  private async probe(): Promise<void> {
    try {
      // Read before the probe: a linearizable read answers at least every revision seen before it.
      const seen = Math.max(this.lastRevision, PrefixMirror.highestRevision(this.client));
      const res = await this.client.get(this.probeKey).options({ deadline: Date.now() + PROBE_DEADLINE_MS }).exec();
      const revision = Number(res.header.revision);
      if (revision < seen && !this.rereading) this.reread(seen, revision);
      this.lastRevision = revision;
      if (this.lastProblem) this.logger.info({ downMs: Date.now() - this.lastOkMs }, 'etcd answers again');
      this.lastOkMs = Date.now();
      this.lastProblem = '';
    } catch (err) {
      this.noteOutage();
      const outage = asEtcdOutage(err);
      const message = outage?.message ?? `etcd is unreachable from the control plane (${(err as Error).message})`;
      if (!this.lastProblem) this.logger.warn({ reason: message }, 'etcd does not answer: the views of this replica are getting old');
      this.lastProblem = message;
    } finally {
      this.schedule();
    }
  }

  /**
   * etcd's revision went back: its data was replaced behind the watches (restored from a backup,
   * or a member with other data answers). The watches wait for revisions that are not coming, so
   * every view is read afresh: the leader, the agents' assignments and `ps` then follow what etcd
   * holds now (docs/high-availability.md, "etcd restored from a backup").
   */
  private reread(seen: number, revision: number): void {
    this.logger.error(
      { seenRevision: seen, revision },
      `etcd's revision went back from ${seen} to ${revision}: its data was restored from a backup or replaced; reading every view afresh, and the cluster follows what etcd holds now`,
    );
    this.rereading = PrefixMirror.refreshAll(this.client).finally(() => {
      this.rereading = undefined;
      if (!this.closed) this.logger.info({ revision: PrefixMirror.highestRevision(this.client) }, 'every view read afresh from etcd');
    });
  }
}
