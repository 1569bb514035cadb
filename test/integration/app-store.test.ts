/** The store's read-modify-writes against a real etcd: concurrent writers never lose an update. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AppStore } from '../../control-plane/state/app-store';
import { Keys } from '../../control-plane/keys';
import { AlreadyExistsError, InvalidArgumentError, LimitExceededError, NotFoundError } from '../../control-plane/errors';
import { LIMIT_EXCEEDED } from '../../lib/status-reason';
import { uniquePrefix, exitWhenDone, useEtcd } from '../helpers/etcd';

const TYPES = Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`t${i}`, `sleep ${i}`]));

exitWhenDone();

describe('app store against etcd', { timeout: 60_000 }, () => {
  const etcd = useEtcd();

  async function freshApp(): Promise<AppStore> {
    const store = new AppStore(etcd.client, new Keys(uniquePrefix()));
    await store.createApp('shop');
    await store.createRelease('shop', { slug: 'a'.repeat(64), processTypes: TYPES, description: 'Deploy' });
    return store;
  }

  it('applies every one of many concurrent scale requests to different types', async () => {
    const store = await freshApp();
    // Twelve writers (as from twelve CLIs or replicas) each change a different type at once.
    const stores = Object.keys(TYPES).map(() => new AppStore(etcd.client, store.keys));
    await Promise.all(Object.keys(TYPES).map((type, i) => stores[i]!.scale('shop', [{ type, count: i + 1 }])));
    const formation = await store.scale('shop', [{ type: 't0', count: 1 }]);
    assert.deepEqual(formation, Object.fromEntries(Object.keys(TYPES).map((t, i) => [t, i + 1])));
  });

  it('ends with one of the values when writers race on the same type, never a mix or a loss', async () => {
    const store = await freshApp();
    await Promise.all([3, 5, 7, 9].map((count) => store.scale('shop', [{ type: 't1', count }, { type: 't2', count }])));
    const formation = await store.scale('shop', [{ type: 't3', count: 0 }]);
    assert.ok([3, 5, 7, 9].includes(formation.t1!));
    assert.equal(formation.t1, formation.t2, 'both types of one request land together');
  });

  it('sets log modes per type (ps:logs), keeps only the non-default ones, and refuses what is not valid', async () => {
    const store = await freshApp();
    assert.deepEqual(await store.setLogMode('shop', [{ type: 't1', mode: 'non-blocking' }, { type: 't2', mode: 'non-blocking' }]), { t1: 'non-blocking', t2: 'non-blocking' });
    assert.deepEqual(await store.setLogMode('shop', [{ type: 't2', mode: 'blocking' }]), { t1: 'non-blocking' });
    await assert.rejects(store.setLogMode('shop', [{ type: 't1', mode: 'sometimes' }]), InvalidArgumentError);
    await assert.rejects(store.setLogMode('shop', [{ type: 'nope', mode: 'non-blocking' }]), /process type `nope` is not in release v1 of `shop` \(it has: t0, /);
    await assert.rejects(store.setLogMode('shop', []), InvalidArgumentError);
    assert.deepEqual(await store.setLogMode('shop', [{ type: 't3', mode: 'blocking' }]), { t1: 'non-blocking' }, 'nothing lost by the refused requests');
  });

  it('takes per-type settings before the first deploy, then only for types of the newest release, and refuses the release command where they do not apply', async () => {
    const store = new AppStore(etcd.client, new Keys(uniquePrefix()));
    await store.createApp('shop');
    // Before any code, with and without a release of config only: nothing to check a type against yet.
    assert.deepEqual(await store.setBootTimeout('shop', [{ type: 'web', seconds: 120 }]), { web: 120_000 });
    await store.setConfig('shop', { FOO: 'bar' }, []); // a release with config and no code
    assert.deepEqual(await store.setGrace('shop', [{ type: 'web', seconds: 30 }]), { web: 30_000 });
    assert.deepEqual(await store.setLogMode('shop', [{ type: 'wbe', mode: 'non-blocking' }]), { wbe: 'non-blocking' });
    assert.deepEqual(await store.setPlacement('shop', [{ type: 'web', labels: { role: 'web' } }]), { web: { labels: { role: 'web' } } });
    await assert.rejects(store.setGrace('shop', [{ type: 'we b', seconds: 30 }]), (err: unknown) => err instanceof InvalidArgumentError && /`we b`/.test(err.message));
    await assert.rejects(store.setBootTimeout('shop', [{ type: 'release', seconds: 30 }]), /`release` is the release command of `shop`, not a process type/);
    await store.createRelease('shop', { slug: 'a'.repeat(64), processTypes: { web: 'w', release: 'migrate' }, description: 'Deploy' });
    const { formation } = await store.getAppAndFormation('shop');
    assert.deepEqual([formation.bootTimeoutMs, formation.graceMs], [{ web: 120_000 }, { web: 30_000 }], 'what was set ahead is kept');
    // From the first deploy on, a type must be in the newest release, but one set ahead may be cleared.
    await assert.rejects(store.setLogMode('shop', [{ type: 'worker', mode: 'non-blocking' }]), /process type `worker` is not in release v2 of `shop` \(it has: web\)/);
    await assert.rejects(store.setGrace('shop', [{ type: 'wbe', seconds: 0 }]), /process type `wbe` is not in release v2/, 'it has no grace to clear');
    assert.deepEqual(await store.setLogMode('shop', [{ type: 'wbe', mode: 'blocking' }]), {});
    await assert.rejects(store.setBootTimeout('shop', [{ type: 'release', seconds: 30 }]), /`release` is the release command of `shop`, not a process type/);
    assert.deepEqual(await store.setGrace('shop', [{ type: 'release', seconds: 30 }]), { web: 30_000, release: 30_000 }, 'a grace (ms) applies to the release command');
  });

  it('refuses to restart one-off processes, saying what they are and how one ends', async () => {
    const store = await freshApp();
    await assert.rejects(store.restart('shop', 'run.7'), /^InvalidArgumentError: `run\.7` is a one-off process: one-offs are never restarted; end it with `cluster ps:stop run\.7 -a shop`$/);
    await assert.rejects(store.restart('shop', 'release.2'), /`release\.2` is a one-off process/);
    await assert.rejects(store.restart('shop', 'run'), /`run` names one-off processes .*, which are never restarted/);
    // Formation types and instances restart as before.
    await store.scale('shop', [{ type: 't1', count: 1 }]);
    assert.ok(await store.restart('shop', 't1.1'));
  });

  it('numbers releases densely under concurrent deploys', async () => {
    const store = await freshApp();
    await Promise.all(Array.from({ length: 8 }, (_, i) =>
      store.createRelease('shop', { slug: String(i).repeat(64), processTypes: TYPES, description: `Deploy ${i}` })));
    const versions = (await store.listReleases('shop')).map((r) => r.version);
    assert.deepEqual(versions, [9, 8, 7, 6, 5, 4, 3, 2, 1]);
  });

  it('adds up concurrent relative changes of one type (worker+1 twice is +2), each in its own transaction', async () => {
    const store = await freshApp();
    await store.scale('shop', [{ type: 't1', count: 2 }]);
    // Ten writers with their own store (as ten CLIs through any replica), all at once.
    const stores = Array.from({ length: 10 }, () => new AppStore(etcd.client, store.keys));
    await Promise.all(stores.map((s, i) => s.scale('shop', [{ type: 't1', count: i % 2 === 0 ? 1 : 2, relative: true }])));
    const formation = await store.scale('shop', [{ type: 't2', count: 0, relative: true }]);
    assert.equal(formation.t1, 2 + 5 * 1 + 5 * 2);
    assert.equal(formation.t2, 0, 'a relative change of a type never scaled starts from 0');
  });

  it('refuses a relative change below zero or over the limit, and changes nothing', async () => {
    const store = await freshApp();
    await store.scale('shop', [{ type: 't1', count: 3 }, { type: 't2', count: 1 }]);
    await assert.rejects(
      store.scale('shop', [{ type: 't2', count: 1, relative: true }, { type: 't1', count: -5, relative: true }]),
      (err: unknown) => err instanceof InvalidArgumentError && /^t1-5: `t1` has 3 instances; it cannot go below 0$/.test(err.message),
    );
    await assert.rejects(
      store.scale('shop', [{ type: 't1', count: 998, relative: true }]),
      (err: unknown) =>
        err instanceof LimitExceededError &&
        err.reason === LIMIT_EXCEEDED &&
        /^t1\+998: `t1` would have 1001 instances; this control plane allows at most 1000 per process type \(its --max-per-type, default 1000\)$/.test(err.message),
    );
    await assert.rejects(store.scale('shop', [{ type: 't1', count: -1001, relative: true }]), InvalidArgumentError);
    assert.deepEqual((await store.getFormation('shop')).counts, { t1: 3, t2: 1 }, 'nothing half-applied');
  });

  it('scales web=1 on the first deploy of an app with a web type and an empty formation, in the release transaction', async () => {
    const store = new AppStore(etcd.client, new Keys(uniquePrefix()));
    await store.createApp('shop');
    // A config change before any code makes release v1 without a slug: the deploy after it is still the first.
    await store.setConfig('shop', { GREETING: 'hi' }, []);
    const first = await store.deploy('shop', { slug: 'a'.repeat(64), processTypes: { web: 'serve', worker: 'work' }, description: 'Deploy' });
    assert.equal(first.release.version, 2);
    assert.deepEqual(first.scaled, { web: 1 });
    assert.deepEqual((await store.getFormation('shop')).counts, { web: 1 });
    // Later deploys leave the formation alone, even after web=0.
    await store.scale('shop', [{ type: 'web', count: 0 }]);
    const second = await store.deploy('shop', { slug: 'b'.repeat(64), processTypes: { web: 'serve' }, description: 'Deploy' });
    assert.deepEqual(second.scaled, {});
    assert.deepEqual((await store.getFormation('shop')).counts, { web: 0 });

    const other = new AppStore(etcd.client, new Keys(uniquePrefix()));
    await other.createApp('jobs');
    const noWeb = await other.deploy('jobs', { slug: 'c'.repeat(64), processTypes: { worker: 'work' }, description: 'Deploy' });
    assert.deepEqual(noWeb.scaled, {}, 'no web type: nothing scaled');
    assert.deepEqual((await other.getFormation('jobs')).counts, {});
  });

  it('scales web=1 once when two first deploys race', async () => {
    const store = new AppStore(etcd.client, new Keys(uniquePrefix()));
    await store.createApp('shop');
    const results = await Promise.all(
      ['a', 'b'].map((c) => new AppStore(etcd.client, store.keys).deploy('shop', { slug: c.repeat(64), processTypes: { web: 'serve' }, description: 'Deploy' })),
    );
    assert.deepEqual(results.map((r) => r.scaled.web ?? 0).sort(), [0, 1], 'only the first release scales');
    assert.deepEqual((await store.getFormation('shop')).counts, { web: 1 });
  });

  it('refuses what it must, with typed errors', async () => {
    const store = await freshApp();
    await assert.rejects(store.createApp('shop'), AlreadyExistsError);
    await assert.rejects(store.scale('nope', [{ type: 't1', count: 1 }]), NotFoundError);
    await assert.rejects(store.scale('shop', [{ type: 'web', count: 1 }]), InvalidArgumentError);
    await assert.rejects(store.scale('shop', [{ type: 't1', count: 1001 }]), InvalidArgumentError);
    await assert.rejects(store.createApp('Bad_Name'), InvalidArgumentError);
  });

  it('stores placement rules with the formation, keeps scale changes, and clears a rule without labels', async () => {
    const store = await freshApp();
    await Promise.all([
      store.setPlacement('shop', [{ type: 't1', labels: { role: 'web' } }]),
      store.scale('shop', [{ type: 't1', count: 2 }]),
      store.setPlacement('shop', [{ type: 't2', labels: {}, datacenter: 'fra1' }]),
    ]);
    assert.deepEqual(await store.getPlacement('shop'), { t1: { labels: { role: 'web' } }, t2: { labels: {}, datacenter: 'fra1' } });
    assert.deepEqual(await store.scale('shop', [{ type: 't3', count: 1 }]), { t1: 2, t3: 1 }, 'no write lost the other');
    assert.deepEqual(await store.setPlacement('shop', [{ type: 't1', labels: {} }]), { t2: { labels: {}, datacenter: 'fra1' } });
  });

  it('refuses placement rules for unknown types, bad labels and too many labels', async () => {
    const store = await freshApp();
    await assert.rejects(store.setPlacement('shop', [{ type: 'web', labels: { role: 'web' } }]), /process type `web` is not in release v1/);
    await assert.rejects(store.setPlacement('shop', [{ type: 't1', labels: { 'bad key': 'x' } }]), InvalidArgumentError);
    await assert.rejects(store.setPlacement('shop', [{ type: 't1', labels: { role: 'has space' } }]), InvalidArgumentError);
    await assert.rejects(store.setPlacement('shop', [{ type: 't1', labels: {}, datacenter: '-x' }]), InvalidArgumentError);
    const many = Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`k${i}`, 'v']));
    await assert.rejects(store.setPlacement('shop', [{ type: 't1', labels: many }]), (err: unknown) => err instanceof LimitExceededError && /at most 20/.test(err.message));
    await assert.rejects(store.setPlacement('shop', [{ type: 't1', labels: {} }, { type: 't1', labels: {} }]), /given twice/);
    await assert.rejects(store.setPlacement('nope', [{ type: 't1', labels: {} }]), NotFoundError);
  });
});
