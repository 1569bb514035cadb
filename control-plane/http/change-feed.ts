/**
 * Tells the dashboard's live streams when what they show may have changed: the replica's
 * mirrors (apps, formations, agents, assignments, drains, web toggles) plus a watch of the
 * instances' statuses and the unplaced lists, which only this feed needs. Changes are
 * coalesced: subscribers hear at most one tick per COALESCE_MS, however busy etcd is (the first
 * change after a quiet spell at once). The
 * watch runs only while someone listens.
 */
import type { Etcd3, Watcher } from 'etcd3';
import type { Logger } from '../../lib/log';
import type { Keys } from '../keys';
import type { ClusterView } from '../state/cluster-view';
import type { PrefixMirror } from '../etcd/mirror';

export const COALESCE_MS = 200;

export class ChangeFeed {
  private readonly listeners = new Set<() => void>();
  private watchers: Watcher[] = [];
  private opening?: Promise<void>;
  private timer?: NodeJS.Timeout;
  private readonly onChange = () => this.schedule();

  constructor(private readonly client: Etcd3, private readonly keys: Keys, private readonly view: ClusterView, private readonly logger: Logger) {}

  private get mirrors(): PrefixMirror[] {
    const v = this.view;
    return [v.apps, v.formations, v.agents, v.assignments, v.drains, v.webToggles];
  }

  /** Calls `listener` after changes; returns the unsubscribe function. */
  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    if (this.listeners.size === 1) this.open();
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) this.close().catch((err: unknown) => this.logger.debug({ err }, 'closing the dashboard watch failed'));
    };
  }

  private lastTick = 0;
  /** Counts ticks: a view computed in an earlier generation may predate a change. */
  generation = 0;

  /** A change after a quiet spell is told at once; changes during a burst wait for the window's end. */
  private schedule(): void {
    if (this.timer) return;
    const wait = Math.max(0, this.lastTick + COALESCE_MS - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.lastTick = Date.now();
      this.generation++;
      for (const listener of [...this.listeners]) listener();
    }, wait);
  }

  private open(): void {
    for (const m of this.mirrors) m.on('change', this.onChange);
    this.opening = (async () => {
      for (const prefix of [this.keys.allStatus(), this.keys.allUnplaced()]) {
        const watcher = await this.client.watch().prefix(prefix).create();
        watcher.on('data', this.onChange);
        // The etcd3 watcher reconnects by itself; a missed change shows on the next periodic refresh.
        watcher.on('error', (err) => this.logger.debug({ err }, 'dashboard watch error'));
        this.watchers.push(watcher);
      }
    })().catch((err: unknown) => this.logger.warn({ err }, 'dashboard cannot watch instance states; pages refresh periodically only'));
  }

  async close(): Promise<void> {
    for (const m of this.mirrors) m.off('change', this.onChange);
    await this.opening;
    const watchers = this.watchers;
    this.watchers = [];
    clearTimeout(this.timer);
    this.timer = undefined;
    await Promise.all(watchers.map((w) => w.cancel().catch(() => undefined)));
  }
}
