/** A release made while an older one's release command has not run supersedes it (docs/boot-checks.md#release-phase). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AppStore } from '../../control-plane/state/app-store';
import { Keys } from '../../control-plane/keys';
import { encode } from '../../control-plane/records';
import { uniquePrefix, exitWhenDone, useEtcd } from '../helpers/etcd';

exitWhenDone();

const TYPES = { web: 'serve', release: 'migrate' };
const withPhase = (description: string) => ({ slug: 'a'.repeat(64), processTypes: TYPES, description, releasePhase: { timeoutMs: 60_000 } });

describe('superseded releases', { timeout: 60_000 }, () => {
  const etcd = useEtcd();

  async function freshApp(): Promise<AppStore> {
    const store = new AppStore(etcd.client, new Keys(uniquePrefix()));
    await store.createApp('shop');
    await store.createRelease('shop', { slug: 'a'.repeat(64), processTypes: { web: 'serve' }, description: 'Deploy' });
    return store;
  }

  it('marks a release whose command never ran superseded when a newer one is made, in the same transaction', async () => {
    const store = await freshApp();
    await store.deploy('shop', withPhase('Deploy 2'));
    assert.equal((await store.getRelease('shop', 2))?.phase?.state, 'pending');
    await store.deploy('shop', withPhase('Deploy 3'));
    const v2 = (await store.getRelease('shop', 2))?.phase;
    assert.deepEqual([v2?.state, v2?.reason], ['superseded', 'v3 was made before its command ran; nothing rolled']);
    assert.equal((await store.getRelease('shop', 3))?.phase?.state, 'pending', 'the newest one runs its own');
    assert.equal((await store.getApp('shop')).deployed, 1, 'v1 stays live');
  });

  it('also when the newer one is a rollback, which goes live at once', async () => {
    const store = await freshApp();
    await store.deploy('shop', withPhase('Deploy 2'));
    await store.rollback('shop', 1);
    assert.equal((await store.getRelease('shop', 2))?.phase?.state, 'superseded');
    assert.equal((await store.getApp('shop')).deployed, 3);
  });

  it('leaves a release whose command runs as it is: the leader records its outcome', async () => {
    const store = await freshApp();
    const v2 = (await store.deploy('shop', withPhase('Deploy 2'))).release;
    const running = { ...v2, phase: { ...v2.phase!, state: 'running' as const, agentId: 'host-a', runId: 'r1' } };
    await etcd.client.put(store.keys.release('shop', 2)).value(encode(running));
    await store.deploy('shop', withPhase('Deploy 3'));
    assert.deepEqual(await store.getRelease('shop', 2), running);
  });
});
