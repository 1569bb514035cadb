/**
 * The control plane's etcd client decodes watch events, transactions, range reads and lease
 * keepalives with its own decoders (control-plane/etcd/fast-decoders.ts); against a real etcd it
 * sees exactly what a plain etcd3 client sees.
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

describe('fast decoding against etcd', { timeout: 60_000 }, () => {
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

  it('gives the same transaction answers and range reads as etcd3 own decoder', async () => {
    const plain = new Etcd3({ hosts: etcd.url });
    const prefix = uniquePrefix();
    const fast = etcd.client;
    try {
      // Writes: each client's own transaction, answered with one header per operation.
      const write = async (client: Etcd3, tag: string) => {
        await client.put(`${prefix}${tag}-gone`).value('x');
        await client.put(`${prefix}${tag}-kept`).value('v1');
        return client
          .if(`${prefix}none`, 'Version', '==', 0)
          .then(...Array.from({ length: 100 }, (_, i) => client.put(`${prefix}${tag}/${i}`).value(`v${i}`)), client.delete().key(`${prefix}${tag}-gone`), client.get(`${prefix}${tag}-kept`))
          .commit();
      };
      const [a, b] = [await write(fast, 'fast'), await write(plain, 'plain')];
      assert.equal(a.succeeded, true);
      assert.equal(a.responses.length, 102);
      const kinds = (ops: unknown[]) => ops.map((op) => (op as { response?: string }).response);
      assert.deepStrictEqual(kinds(a.responses), kinds(b.responses));
      assert.deepStrictEqual(new Set(kinds(a.responses)), new Set(['response_put', 'response_delete_range', 'response_range']));
      assert.equal(Number(b.header.revision), Number(a.header.revision) + 3, 'one revision a write');
      assert.equal(a.responses[0]!.response_put!.header.revision, a.header.revision);
      assert.equal(a.responses[100]!.response_delete_range!.deleted, '1');
      assert.equal(a.responses[101]!.response_range!.kvs[0]!.value.toString(), 'v1');
      const failed = await fast.if(`${prefix}fast/1`, 'Version', '==', 0).then(fast.put(`${prefix}x`).value('1')).else(fast.get(`${prefix}fast/2`)).commit();
      assert.equal(failed.succeeded, false);
      assert.equal(failed.responses[0]!.response_range!.kvs[0]!.value.toString(), 'v2');
      // Reads at one revision: the whole answer is the same, field for field.
      const revision = a.header.revision;
      const read = (client: Etcd3) => client.kv.range({ key: Buffer.from(`${prefix}fast/`), range_end: Buffer.from(`${prefix}fast0`), revision });
      assert.deepStrictEqual(await read(fast), await read(plain));
      const inTxn = (client: Etcd3) => client.kv.txn({ compare: [], success: [{ request_range: { key: Buffer.from(`${prefix}fast/`), range_end: Buffer.from(`${prefix}fast0`), revision } }], failure: [] });
      const [t1, t2] = [await inTxn(fast), await inTxn(plain)];
      assert.deepStrictEqual(t1.responses, t2.responses);
      assert.equal(t1.responses[0]!.response_range!.kvs.length, 100);
      // The patched client decodes with its own functions, not proto-loader's.
      const host = (fast as unknown as { pool: { hosts: Array<{ getServiceClient(n: string): object }> } }).pool.hosts[0]!;
      for (const [service, method] of [['KV', 'txn'], ['KV', 'range'], ['Lease', 'leaseKeepAlive']] as const) {
        assert.equal(Object.prototype.hasOwnProperty.call(host.getServiceClient(service), method), true, `${service}.${method} is patched`);
      }
    } finally {
      plain.close();
    }
  });

  it('keeps a lease alive through the patched keepalive stream', async () => {
    const lease = etcd.client.lease(2);
    try {
      const id = await lease.grant();
      let renewals = 0;
      lease.on('keepaliveSucceeded', (res: { ID: string; TTL: string }) => {
        assert.equal(res.ID, id);
        assert.equal(res.TTL, '2');
        renewals += 1;
      });
      await waitFor('two renewals decoded by the fast decoder', () => renewals >= 2, 10_000);
      const left = await etcd.client.leaseClient.leaseTimeToLive({ ID: id });
      assert.ok(Number(left.TTL) > 0, 'the lease is alive');
    } finally {
      await lease.revoke().catch(() => undefined);
    }
  });
});
