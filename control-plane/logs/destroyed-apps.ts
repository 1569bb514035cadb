/**
 * Tells a follow (`cluster logs -f`, the dashboard's log pane) that its app was destroyed, so that
 * it ends with that news rather than streaming nothing for ever: the agents stop the app's
 * instances and no line comes again. Read from this replica's mirror of the apps
 * (state/cluster-view.ts), once the mirror has seen the version of the app the follow read: a
 * mirror a step behind etcd must not call a brand-new app destroyed. An app destroyed and created
 * again under the same name is another app (its `createdAtMs` differs): its follows end too.
 * One listener on the mirror for every follow of the replica (a mirror change looks only at the
 * follows of the keys it changed).
 */
import type { PrefixMirror } from '../etcd/mirror';
import type { AppRecord } from '../records';

interface Watch {
  key: string;
  createdAtMs: number;
  /** The mod revision the follow read the app at: the mirror decides nothing before it. */
  modRevision: number;
  destroyed: () => void;
}

export class DestroyedApps {
  private readonly watches = new Map<string, Set<Watch>>();
  private listening = false;

  constructor(private readonly apps: PrefixMirror) {}

  /**
   * Calls `destroyed` once when the app at `key` (as read: `record`, at `modRevision`) no longer
   * exists; returns the cancel.
   */
  watch(key: string, record: AppRecord, modRevision: number, destroyed: () => void): () => void {
    this.listen();
    const watch: Watch = { key, createdAtMs: record.createdAtMs, modRevision, destroyed };
    let set = this.watches.get(key);
    if (!set) this.watches.set(key, (set = new Set()));
    set.add(watch);
    this.check(watch); // the mirror may be past the destroy already
    return () => this.forget(watch);
  }

  private listen(): void {
    if (this.listening) return;
    this.listening = true;
    this.apps.on('change', (events) => {
      for (const key of new Set(events.map((e) => e.key))) this.checkKey(key);
    });
    // Read afresh (after a broken watch, an etcd outage): a destroy meanwhile left no event.
    this.apps.on('resync', () => {
      for (const key of [...this.watches.keys()]) this.checkKey(key);
    });
  }

  private checkKey(key: string): void {
    const set = this.watches.get(key);
    if (set) for (const watch of [...set]) this.check(watch);
  }

  private check(watch: Watch): void {
    if (this.apps.revision < watch.modRevision) return;
    if (this.apps.decoded<AppRecord>(watch.key)?.createdAtMs === watch.createdAtMs) return;
    this.forget(watch);
    watch.destroyed();
  }

  private forget(watch: Watch): void {
    const set = this.watches.get(watch.key);
    set?.delete(watch);
    if (set?.size === 0) this.watches.delete(watch.key);
  }
}
