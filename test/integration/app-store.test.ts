/** The store's read-modify-writes against a real etcd: concurrent writers never lose an update. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AppStore } from '../../control-plane/state/app-store';
import { Keys } from '../../control-plane/keys';
import { AlreadyExistsError, InvalidArgumentError, NotFoundError } from '../../control-plane/errors';
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

  it('numbers releases densely under concurrent deploys', async () => {
    const store = await freshApp();
    await Promise.all(Array.from({ length: 8 }, (_, i) =>
      store.createRelease('shop', { slug: String(i).repeat(64), processTypes: TYPES, description: `Deploy ${i}` })));
    const versions = (await store.listReleases('shop')).map((r) => r.version);
    assert.deepEqual(versions, [9, 8, 7, 6, 5, 4, 3, 2, 1]);
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
    await assert.rejects(store.setPlacement('shop', [{ type: 't1', labels: many }]), /at most 20/);
    await assert.rejects(store.setPlacement('shop', [{ type: 't1', labels: {} }, { type: 't1', labels: {} }]), /given twice/);
    await assert.rejects(store.setPlacement('nope', [{ type: 't1', labels: {} }]), NotFoundError);
  });
});
