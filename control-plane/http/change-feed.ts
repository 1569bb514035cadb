/**
 * Tells the dashboard's live streams when what they show may have changed: the replica's
 * mirrors (apps, formations, agents, assignments, drains, web toggles, restart holds, one-off
 * counts) plus a watch of the
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
  /** The watches while someone listens; each subscription spell has its own (see WatchSpell). */
  private spell?: WatchSpell;
  private timer?: NodeJS.Timeout;

  constructor(private readonly client: Etcd3, private readonly keys: Keys, private readonly view: ClusterView, private readonly logger: Logger) {}

  private get mirrors(): PrefixMirror[] {
    const v = this.view;
    return [v.apps, v.formations, v.agents, v.knownAgents, v.assignments, v.drains, v.webToggles, v.restartHolds, v.oneOffCounts];
  }

  /** Calls `listener` after changes; returns the unsubscribe function (a second call does nothing). */
  subscribe(listener: () => void): () => void {
    // A function of its own per subscription: the same listener twice is two subscriptions.
    const entry = () => listener();
    this.listeners.add(entry);
    if (this.listeners.size === 1) this.spell = this.open();
    return () => {
      if (!this.listeners.delete(entry) || this.listeners.size > 0) return;
      this.close().catch((err: unknown) => this.logger.debug({ err }, 'closing the dashboard watch failed'));
    };
  }

  private lastTick = 0;
  /** Counts ticks: a view computed in an earlier generation may predate a change. */
  generation = 0;

  /** A change after a quiet spell is told at once; changes during a burst wait for the window's end. */
  private schedule(): void {
    if (this.timer || this.listeners.size === 0) return;
    const wait = Math.max(0, this.lastTick + COALESCE_MS - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.lastTick = Date.now();
      this.generation++;
      for (const listener of [...this.listeners]) listener();
    }, wait);
  }

  /**
   * Starts a spell of watching. Its watches are created one after the other; one created after
   * the spell ended (the last subscriber left during set-up) is cancelled at once, and a spell
   * that ended tells nothing more, even when a new spell has begun meanwhile.
   */
  private open(): WatchSpell {
    const spell: WatchSpell = { ended: false, watchers: [], onChange: () => !spell.ended && this.schedule() };
    for (const m of this.mirrors) m.on('change', spell.onChange);
    spell.opening = (async () => {
      for (const prefix of [this.keys.allStatus(), this.keys.allUnplaced()]) {
        if (spell.ended) return;
        const watcher = await this.client.watch().prefix(prefix).create();
        spell.watchers.push(watcher);
        if (spell.ended) return; // close() cancels it
        watcher.on('data', spell.onChange);
        // The etcd3 watcher reconnects by itself; a missed change shows on the next periodic refresh.
        watcher.on('error', (err) => this.logger.debug({ err }, 'dashboard watch error'));
      }
    })().catch((err: unknown) => this.logger.warn({ err }, 'dashboard cannot watch instance states; pages refresh periodically only'));
    return spell;
  }

  /**
   * Ends the current spell (the last subscriber left, or the replica stops): its watches are
   * cancelled, those still being created too. What ends it runs before the first await, so a
   * subscriber that comes right after starts a spell of its own.
   */
  async close(): Promise<void> {
    const spell = this.spell;
    this.spell = undefined;
    if (!spell || spell.ended) return;
    spell.ended = true;
    for (const m of this.mirrors) m.off('change', spell.onChange);
    clearTimeout(this.timer);
    this.timer = undefined;
    await spell.opening;
    await Promise.all(spell.watchers.map((w) => w.cancel().catch(() => undefined)));
  }
}

/** The watches of one spell of subscriptions (from the first subscriber to the last leaving). */
interface WatchSpell {
  ended: boolean;
  watchers: Watcher[];
  opening?: Promise<void>;
  onChange: () => void;
}
