/**
 * The dashboard's change feed (control-plane/http/change-feed.ts) when subscribers come and go
 * while its etcd watches are still being created: no watch outlives the last subscriber, a
 * spell that ended tells nothing more, and a subscriber that comes during a close gets watches
 * of its own.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { Etcd3 } from 'etcd3';
import { ChangeFeed } from '../../control-plane/http/change-feed';
import { Keys } from '../../control-plane/keys';
import type { ClusterView } from '../../control-plane/state/cluster-view';
import { createLogger } from '../../lib/log';
import { waitFor } from '../helpers/wait-for';

class FakeWatcher extends EventEmitter {
  cancelled = false;
  async cancel(): Promise<void> {
    this.cancelled = true;
  }
}

/** An etcd client whose watches are created when the test says so. */
function fakeEtcd() {
  const pending: Array<{ prefix: string; create: () => FakeWatcher }> = [];
  const watchers: FakeWatcher[] = [];
  const client = {
    watch: () => ({
      prefix: (prefix: string) => ({
        create: () =>
          new Promise<FakeWatcher>((resolve) =>
            pending.push({
              prefix,
              create: () => {
                const w = new FakeWatcher();
                watchers.push(w);
                resolve(w);
                return w;
              },
            }),
          ),
      }),
    }),
  } as unknown as Etcd3;
  /** Creates every watch asked for so far, and those the creations ask for next. */
  const createAll = async () => {
    for (let i = 0; i < 20; i++) {
      while (pending.length > 0) pending.shift()!.create();
      await new Promise((r) => setImmediate(r));
    }
  };
  return { client, pending, watchers, createAll };
}

function fakeView() {
  const mirrors = { apps: new EventEmitter(), formations: new EventEmitter(), agents: new EventEmitter(), knownAgents: new EventEmitter(), assignments: new EventEmitter(), drains: new EventEmitter(), webToggles: new EventEmitter(), restartHolds: new EventEmitter(), oneOffCounts: new EventEmitter() };
  const listening = () => Object.values(mirrors).reduce((n, m) => n + m.listenerCount('change'), 0);
  return { view: mirrors as unknown as ClusterView, mirrors, listening };
}

const logger = createLogger('test', 'silent');
const live = (ws: FakeWatcher[]) => ws.filter((w) => !w.cancelled && w.listenerCount('data') > 0);

describe('change feed subscribe/close races', () => {
  it('a subscriber that leaves while the watches are being created leaves no watch and hears nothing', async () => {
    const etcd = fakeEtcd();
    const { view, listening } = fakeView();
    const feed = new ChangeFeed(etcd.client, new Keys('/t/'), view, logger);
    let heard = 0;
    const unsubscribe = feed.subscribe(() => heard++);
    assert.equal(etcd.pending.length, 1, 'the first watch is being created');
    unsubscribe();
    await etcd.createAll();
    await waitFor('the watches created meanwhile to be cancelled', () => etcd.watchers.every((w) => w.cancelled), 5_000);
    assert.ok(etcd.watchers.length <= 2);
    assert.equal(live(etcd.watchers).length, 0);
    assert.equal(listening(), 0, 'no mirror listener left');
    for (const w of etcd.watchers) w.emit('data', {});
    assert.equal((feed as unknown as { timer?: unknown }).timer, undefined, 'no tick scheduled after the close');
    assert.equal(heard, 0);
  });

  it('a subscriber that comes while the last one is closing gets watches of its own, which keep working', async () => {
    const etcd = fakeEtcd();
    const { view, mirrors, listening } = fakeView();
    const feed = new ChangeFeed(etcd.client, new Keys('/t/'), view, logger);
    const first = feed.subscribe(() => undefined);
    first(); // closing: it waits for the watch being created
    let heard = 0;
    const second = feed.subscribe(() => heard++);
    await etcd.createAll();
    await waitFor('the first spell to be cancelled', () => etcd.watchers.filter((w) => w.cancelled).length >= 1, 5_000);
    const mine = live(etcd.watchers);
    assert.equal(mine.length, 2, 'the second subscriber watches statuses and unplaced lists');
    assert.equal(listening(), Object.keys(mirrors).length, 'one listener per mirror, not two');
    mine[0]!.emit('data', {});
    await waitFor('a tick for the second subscriber', () => heard === 1, 5_000);
    mirrors.formations.emit('change');
    await waitFor('a tick from a mirror', () => heard === 2, 5_000);
    second();
    second(); // a second call does nothing
    await waitFor('every watch cancelled', () => etcd.watchers.every((w) => w.cancelled), 5_000);
    assert.equal(listening(), 0);
  });

  it('the same listener subscribed twice stays subscribed until both leave', async () => {
    const etcd = fakeEtcd();
    const { view } = fakeView();
    const feed = new ChangeFeed(etcd.client, new Keys('/t/'), view, logger);
    let heard = 0;
    const listener = () => heard++;
    const a = feed.subscribe(listener);
    const b = feed.subscribe(listener);
    await etcd.createAll();
    a();
    live(etcd.watchers)[0]!.emit('data', {});
    await waitFor('a tick', () => heard === 1, 5_000);
    b();
    await waitFor('every watch cancelled', () => etcd.watchers.every((w) => w.cancelled), 5_000);
  });
});
