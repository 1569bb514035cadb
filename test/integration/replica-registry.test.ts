/** ReplicaRegistry against a real etcd: replicas see each other, leave at once on close, and after their TTL when they stop renewing. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Etcd3 } from 'etcd3';
import { ReplicaRegistry } from '../../control-plane/replicas/registry';
import { Keys } from '../../control-plane/keys';
import { createLogger } from '../../lib/log';
import { uniquePrefix, exitWhenDone, useEtcd } from '../helpers/etcd';
import { waitFor } from '../helpers/wait-for';

const logger = createLogger('test', 'silent');

exitWhenDone();

describe('replica registry', { timeout: 60_000 }, () => {
  const etcd = useEtcd();

  it('lists every replica, emits changes, and drops a closed one at once', async () => {
    const keys = new Keys(uniquePrefix());
    const a = await ReplicaRegistry.start(etcd.client, keys, { address: '127.0.0.1:7600', version: '1', logger });
    const b = await ReplicaRegistry.start(etcd.client, keys, { address: '[::1]:7601', version: '1', logger });
    try {
      assert.notEqual(a.selfId, b.selfId);
      await waitFor('a sees b', () => a.list().length === 2);
      assert.deepEqual(a.list().map((r) => r.address).sort(), ['127.0.0.1:7600', '[::1]:7601']);
      const changed = new Promise<number>((resolve) => a.once('change', (list) => resolve(list.length)));
      await b.close();
      assert.equal(await changed, 1);
      assert.deepEqual(a.list().map((r) => r.id), [a.selfId]);
      assert.equal((await etcd.client.getAll().prefix(keys.replicas()).keys()).length, 1);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('drops a replica whose lease is no longer renewed (a crash) after its TTL', async () => {
    const keys = new Keys(uniquePrefix());
    const watcher = await ReplicaRegistry.start(etcd.client, keys, { address: '127.0.0.1:7600', version: '1', logger });
    // A client of its own, whose keepalives stop when its lease is forgotten: a "crash".
    const other = new Etcd3({ hosts: etcd.url });
    const lease = other.lease(2, { autoKeepAlive: false });
    try {
      await lease.put(keys.replica('dead-1')).value(JSON.stringify({ id: 'dead-1', address: '127.0.0.9:1', version: '1', startedAt: '' }));
      await waitFor('the dead replica appears', () => watcher.list().some((r) => r.id === 'dead-1'));
      await waitFor('the dead replica goes after its TTL', () => !watcher.list().some((r) => r.id === 'dead-1'), 8_000);
    } finally {
      await watcher.close();
      other.close();
    }
  });

  it('refuses an address that is not HOST:PORT', async () => {
    await assert.rejects(ReplicaRegistry.start(etcd.client, new Keys(uniquePrefix()), { address: 'nope', version: '1', logger }), /not HOST:PORT/);
  });
});
