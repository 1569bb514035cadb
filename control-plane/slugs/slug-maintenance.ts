/**
 * Each replica, for itself, every `intervalMs`: announces the slugs it holds, fetches the
 * slugs of existing releases it lacks (a replica started after a deploy, or one that
 * missed a copy), and deletes the slugs no release references once they are older than
 * the grace. A pass that cannot read the releases deletes nothing.
 */
import type { Etcd3 } from 'etcd3';
import type { Logger } from '../../lib/log';
import type { Keys } from '../keys';
import { referencedSlugs } from './referenced-slugs';
import { slugsToCollect, slugsToFetch } from './slug-gc';
import type { SlugHolders } from './slug-holders';
import type { SlugReplicator } from './slug-replicator';

export interface SlugMaintenanceOptions {
  /** Between passes (default 60 s). The first pass runs right after start. */
  intervalMs?: number;
  /** An unreferenced slug younger than this is kept: a deploy may be about to name it (default 15 min). */
  gcGraceMs?: number;
}

/** Temp files of transfers a crash interrupted are removed after this long. */
const STALE_TEMP_MS = 60 * 60_000;

export class SlugMaintenance {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private closed = false;
  private readonly intervalMs: number;
  private readonly gcGraceMs: number;
  private announcedOnce = false;

  constructor(
    private readonly client: Etcd3,
    private readonly keys: Keys,
    private readonly replicator: SlugReplicator,
    private readonly holders: SlugHolders,
    private readonly logger: Logger,
    opts: SlugMaintenanceOptions = {},
  ) {
    this.intervalMs = opts.intervalMs ?? 60_000;
    this.gcGraceMs = opts.gcGraceMs ?? 15 * 60_000;
  }

  start(): void {
    this.schedule(0);
  }

  /** One pass now (or the one already running); never rejects. */
  runOnce(): Promise<void> {
    this.running ??= this.pass()
      .catch((err: unknown) => this.logger.warn({ err: (err as Error).message }, 'slug maintenance pass failed; next pass later'))
      .finally(() => (this.running = undefined));
    return this.running;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private schedule(delayMs: number): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      // runOnce() never rejects (a failed pass is logged there); the next pass is scheduled either way.
      this.runOnce().finally(() => this.schedule(this.intervalMs)).catch((err: unknown) => this.logger.error({ err }, 'bug: slug maintenance failed'));
    }, delayMs);
    this.timer.unref();
  }

  private async pass(): Promise<void> {
    const store = this.replicator.store;
    const stored = await store.list();
    if (!this.announcedOnce) {
      // Slugs kept from this data dir's previous run: other replicas may fetch them from here.
      for (const slug of stored) await this.holders.announce(slug.digest);
      this.announcedOnce = true;
    }
    const referenced = await referencedSlugs(this.client, this.keys);
    const now = Date.now();
    const sizes = new Map(stored.map((slug) => [slug.digest, slug.size]));
    for (const digest of slugsToCollect(stored, referenced, now, this.gcGraceMs)) {
      if (this.closed) return;
            if (await this.replicator.collect(digest, now - this.gcGraceMs)) {
        this.logger.info({ slug: digest, bytes: sizes.get(digest) }, 'slug no release references deleted');
      }
    }
    for (const digest of slugsToFetch(stored, referenced)) {
      if (this.closed) return;
      try {
        await this.replicator.pull(digest, []);
      } catch (err) {
        this.logger.warn({ slug: digest, err: (err as Error).message }, 'a release names a slug this replica cannot fetch yet');
      }
    }
    const temps = await store.removeStaleTemps(STALE_TEMP_MS);
    if (temps > 0) this.logger.info({ files: temps }, 'removed temp files of interrupted slug transfers');
  }
}
