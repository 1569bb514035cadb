/**
 * The control plane's etcd client decodes watch events with control-plane/etcd/watch-decoder.ts;
 * against a real etcd its watchers see exactly what a plain etcd3 client's watchers see.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Etcd3, type IWatchResponse } from 'etcd3';
import { exitWhenDone, uniquePrefix, useEtcd } from '../helpers/etcd';
import { waitFor } from '../helpers/wait-for';

exitWhenDone();

/** The events of every watch response, in order, as (type, key, value, revisions, lease). */
function record(responses: IWatchResponse[]): unknown[] {
  return responses.flatMap((res) =>
    res.events.map((ev) => ({
      type: ev.type,
      key: ev.kv.key.toString(),
      value: ev.kv.value.toString(),
      create: ev.kv.create_revision,
      mod: ev.kv.mod_revision,
      version: ev.kv.version,
      lease: ev.kv.lease,
      prev: ev.prev_kv ? ev.prev_kv.value.toString() : null,
    })),
  );
}

describe('fast watch decoding against etcd', { timeout: 60_000 }, () => {
  const etcd = useEtcd();

  it('gives the same events, revisions and lease ids as etcd3 own decoder', async () => {
    const plain = new Etcd3({ hosts: etcd.url });
    const prefix = uniquePrefix();
    const fast: IWatchResponse[] = [];
    const reference: IWatchResponse[] = [];
    const w1 = await etcd.client.watch().prefix(prefix).withPreviousKV().create();
    const w2 = await plain.watch().prefix(prefix).withPreviousKV().create();
    w1.on('data', (res) => fast.push(res));
    w2.on('data', (res) => reference.push(res));
    const lease = etcd.client.lease(30, { autoKeepAlive: false });
    try {
      const leaseId = await lease.grant();
      await etcd.client.put(`${prefix}a`).value('{"n":1}');
      await etcd.client.put(`${prefix}a`).value('{"n":2}');
      await etcd.client.put(`${prefix}leased`).value('ünïcode ✓').lease(leaseId);
      await etcd.client.put(`${prefix}empty`).value('');
      await etcd.client.delete().key(`${prefix}a`);
      const txn = etcd.client.if(`${prefix}a`, 'Version', '==', 0).then(...Array.from({ length: 100 }, (_, i) => etcd.client.put(`${prefix}t/${i}`).value('x'.repeat(i))));
      await txn.commit();
      await waitFor('every event on both watchers', () => record(fast).length === 105 && record(reference).length === 105);
      assert.deepStrictEqual(record(fast), record(reference));
      assert.equal((record(fast)[2] as { lease: string }).lease, leaseId, 'the lease id exactly, beyond 2^53');
      assert.equal(fast.at(-1)!.header.revision, reference.at(-1)!.header.revision);
      // The patched client decodes with its own function, not proto-loader's.
      const watchClient = (etcd.client as unknown as { pool: { hosts: Array<{ getServiceClient(n: string): { watch: unknown } }> } }).pool.hosts[0]!.getServiceClient('Watch');
      assert.equal(Object.prototype.hasOwnProperty.call(watchClient, 'watch'), true, 'the Watch client of the control plane is patched');
    } finally {
      await lease.revoke().catch(() => undefined);
      await w1.cancel();
      await w2.cancel();
      plain.close();
    }
  });
});
