/**
 * etcd compaction, driven by the leader: every `everyMs` it notes etcd's current revision, and
 * compacts to the newest noted revision that is at least `historyMs` old. etcd keeps every
 * version of every key until compacted; each scale of 100k instances up and down writes ~400k
 * versions (assignments and statuses), and etcd's own revision-mode auto-compaction (etcd 3.4)
 * runs only every 5 minutes: etcd's CPU grew run after run (bench/RESULTS.md). Watches of this
 * control plane always start from a fresh read (etcd/mirror.ts), so a compaction of older
 * revisions breaks none of them; the history kept is for anything else watching the same etcd.
 * See docs/high-availability.md#etcd-history.
 */
import type { Etcd3 } from 'etcd3';
import type { Logger } from '../../lib/log';
import { PassLoop } from './pass-loop';

export interface CompactorOptions {
  /** How long etcd keeps old versions of keys (ms). */
  historyMs: number;
  /** How often a revision is noted and a compaction tried (ms; default historyMs / 5, at most 60 s). */
  everyMs?: number;
  /** A key whose read tells etcd's current revision cheaply (the leader key). */
  probeKey: string;
}

/** Revisions noted, oldest first, with when. */
interface Mark {
  atMs: number;
  revision: number;
}

export class Compactor {
  private readonly loop: PassLoop;
  private marks: Mark[] = [];
  private compacted = 0;
  private readonly everyMs: number;

  constructor(private readonly client: Etcd3, private readonly opts: CompactorOptions, private readonly logger: Logger, private readonly now = () => Date.now()) {
    this.everyMs = opts.everyMs ?? Math.max(1_000, Math.min(60_000, Math.floor(opts.historyMs / 5)));
    this.loop = new PassLoop(() => this.pass(), {
      everyMs: this.everyMs,
      retryMs: this.everyMs,
      onError: (err) => this.logger.warn({ err }, 'etcd compaction failed; trying again later'),
    });
  }

  /** Starts (when elected). Marks from an earlier term are dropped: they may be stale. */
  start(): void {
    this.marks = [];
    this.loop.start();
  }

  async stop(): Promise<void> {
    await this.loop.stop();
  }

  /** One pass: note the current revision, compact to the newest mark old enough. Exposed for tests. */
  async pass(): Promise<void> {
    const res = await this.client.kv.range({ key: Buffer.from(this.opts.probeKey), count_only: true });
    const now = this.now();
    const revision = Number(res.header.revision);
    if (revision < (this.marks.at(-1)?.revision ?? 0) || revision < this.compacted) {
      // etcd's data was replaced (restored from a backup): what was noted and compacted is not its history.
      this.marks = [];
      this.compacted = 0;
    }
    this.marks.push({ atMs: now, revision });
    const target = compactionTarget(this.marks, now - this.opts.historyMs);
    if (target === undefined) return;
    this.marks = this.marks.filter((m) => m.revision > target);
    if (target <= this.compacted) return;
    try {
      await this.client.kv.compact({ revision: String(target), physical: false });
      this.compacted = target;
      this.logger.debug({ revision: target }, 'compacted etcd history');
    } catch (err) {
      // Already compacted further (by another leader, or etcd's own auto-compaction): fine.
      if (/compacted/.test((err as Error).message)) this.compacted = target;
      else throw err;
    }
  }
}

/** The newest marked revision noted at or before `cutoffMs`, if any (marks oldest first). */
export function compactionTarget(marks: readonly Mark[], cutoffMs: number): number | undefined {
  let target: number | undefined;
  for (const m of marks) {
    if (m.atMs > cutoffMs) break;
    target = m.revision;
  }
  return target;
}
