/**
 * Wide transactions (control-plane/etcd/batch.ts) and merged guarded writes
 * (control-plane/etcd/merged-commits.ts) against a real etcd: many operations in few requests,
 * each write still all or nothing under its own guard, and one refused write never fails another.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EtcdLeaseInvalidError } from 'etcd3';
import type { ICompare } from 'etcd3/lib/rpc';
import { commitInChunks, MAX_WIDE_TXN_OPS, type WriteOp } from '../../control-plane/etcd/batch';
import { MergedCommits } from '../../control-plane/etcd/merged-commits';
import { PrefixMirror } from '../../control-plane/etcd/mirror';
import { createLogger } from '../../lib/log';
import { exitWhenDone, uniquePrefix, useEtcd } from '../helpers/etcd';

exitWhenDone();

const logger = createLogger('test', 'silent');

/** Holds while `key` is attached to `lease` (what ReportStatus guards an agent's statuses with). */
function leaseGuard(key: string, lease: string): ICompare[] {
  return [{ key: Buffer.from(key), target: 'Lease', result: 'Equal', lease }];
}

describe('wide transactions and merged writes', { timeout: 120_000 }, () => {
  const etcd = useEtcd();

  async function etcdRevision(): Promise<number> {
    return Number((await etcd.client.kv.range({ key: Buffer.from('/none') })).header.revision);
  }

  it('commits 5,000 guarded puts in three transactions, and nothing once the guard fails', async () => {
    const prefix = uniquePrefix();
    await etcd.client.put(`${prefix}fence`).value('1');
    const fence: ICompare = { key: Buffer.from(`${prefix}fence`), target: 'Version', result: 'Equal', version: 1 };
    const ops: WriteOp[] = Array.from({ length: 5_000 }, (_, i) => ({ put: `${prefix}k/${i}`, value: `{"i":${i}}` }));
    const before = await etcdRevision();
    const revision = await commitInChunks(etcd.client, ops, [fence], 4);
    assert.ok(revision !== undefined);
    assert.equal(Number(revision) - before, Math.ceil(5_000 / MAX_WIDE_TXN_OPS), 'one revision per transaction');
    assert.equal((await etcd.client.getAll().prefix(`${prefix}k/`).keys()).length, 5_000);
    assert.equal(await etcd.client.get(`${prefix}k/4999`).string(), '{"i":4999}');

    await etcd.client.put(`${prefix}fence`).value('2');
    const more: WriteOp[] = Array.from({ length: 3_000 }, (_, i) => ({ put: `${prefix}m/${i}`, value: 'x' }));
    assert.equal(await commitInChunks(etcd.client, more, [fence], 4), undefined);
    assert.equal((await etcd.client.getAll().prefix(`${prefix}m/`).keys()).length, 0);
  });

  it('reads a generator of operations only as far as the chunks it commits', async () => {
    const prefix = uniquePrefix();
    let made = 0;
    function* ops(n: number): Generator<WriteOp> {
      for (let i = 0; i < n; i++) {
        made++;
        yield { put: `${prefix}g/${i}`, value: 'x' };
      }
    }
    assert.ok((await commitInChunks(etcd.client, ops(5_000), [], 2)) !== undefined);
    assert.equal((await etcd.client.getAll().prefix(`${prefix}g/`).keys()).length, 5_000);
    // A guard that fails from the start: nothing is written, and the rest is never made.
    made = 0;
    const never: ICompare = { key: Buffer.from(`${prefix}absent`), target: 'Version', result: 'Greater', version: 0 };
    assert.equal(await commitInChunks(etcd.client, ops(50_000), [never], 2), undefined);
    assert.ok(made <= 4 * MAX_WIDE_TXN_OPS + 1, `made ${made} of 50,000 operations`);
    assert.equal((await etcd.client.getAll().prefix(`${prefix}g/`).keys()).length, 5_000);
  });

  it('writes a key twice in one call as two transactions, the last value winning', async () => {
    const prefix = uniquePrefix();
    const ops: WriteOp[] = [
      { put: `${prefix}a`, value: '1' },
      { put: `${prefix}b`, value: '1' },
      { delete: `${prefix}a` },
      { put: `${prefix}a`, value: '2' },
    ];
    assert.ok((await commitInChunks(etcd.client, ops)) !== undefined);
    assert.equal(await etcd.client.get(`${prefix}a`).string(), '2');
  });

  it('merges several agents\' writes into one transaction, each under its own guard', async () => {
    const prefix = uniquePrefix();
    const merged = new MergedCommits(etcd.client, { windowMs: 20 });
    const agents = await Promise.all(
      Array.from({ length: 6 }, async (_, a) => {
        const lease = await etcd.client.lease(30, { autoKeepAlive: false }).grant();
        await etcd.client.put(`${prefix}agents/${a}`).value('x').lease(lease).exec();
        return { key: `${prefix}agents/${a}`, lease };
      }),
    );
    // Agent 5 has lost its registration: its guard fails, the others' writes go through.
    await etcd.client.delete().key(agents[5]!.key);
    const before = await etcdRevision();
    const results = await Promise.all(
      agents.map((agent, a) => {
        const ops: WriteOp[] = Array.from({ length: a === 0 ? 150 : 40 }, (_, i) => ({ put: `${prefix}status/${a}/${i}`, value: `{"a":${a}}`, lease: agent.lease }));
        return merged.commit(leaseGuard(agent.key, agent.lease), ops);
      }),
    );
    assert.deepEqual(results, [true, true, true, true, true, false]);
    assert.equal(await etcdRevision(), before + 1, 'one transaction for all six writes');
    assert.equal((await etcd.client.getAll().prefix(`${prefix}status/0/`).keys()).length, 150, 'a write of several nested transactions, whole');
    for (let a = 1; a < 5; a++) assert.equal((await etcd.client.getAll().prefix(`${prefix}status/${a}/`).keys()).length, 40);
    assert.equal((await etcd.client.getAll().prefix(`${prefix}status/5/`).keys()).length, 0);
    // The statuses live under each agent's lease.
    await etcd.client.leaseClient.leaseRevoke({ ID: agents[1]!.lease });
    assert.equal((await etcd.client.getAll().prefix(`${prefix}status/1/`).keys()).length, 0);
  });

  it('a refused write fails alone: the others of its transaction are committed', async () => {
    const prefix = uniquePrefix();
    const merged = new MergedCommits(etcd.client, { windowMs: 20 });
    const dead = await etcd.client.lease(5, { autoKeepAlive: false }).grant();
    await etcd.client.leaseClient.leaseRevoke({ ID: dead });
    const good = Array.from({ length: 3 }, (_, i) => merged.commit([], [{ put: `${prefix}good/${i}`, value: 'x' }]));
    // No guard, a lease that is gone: etcd refuses the whole request it is part of.
    const bad = merged.commit([], [{ put: `${prefix}bad`, value: 'x', lease: dead }]);
    await assert.rejects(bad, EtcdLeaseInvalidError);
    assert.deepEqual(await Promise.all(good), [true, true, true]);
    assert.equal((await etcd.client.getAll().prefix(`${prefix}good/`).keys()).length, 3);
  });

  it('never lets a newer write of a key land before an older one held back by a clash on another key', async () => {
    const prefix = uniquePrefix();
    const merged = new MergedCommits(etcd.client, { windowMs: 20 });
    const [k1, k2] = [`${prefix}k1`, `${prefix}k2`];
    // Queued in one window: `older` clashes with the first on k1, so it waits for the next
    // transaction; `newer` writes k2 too and must wait behind it, not overtake it.
    const writes = [
      merged.commit([], [{ put: k1, value: 'first' }]),
      merged.commit([], [{ put: k1, value: 'older' }, { put: k2, value: 'older' }]),
      merged.commit([], [{ put: k2, value: 'newer' }]),
    ];
    assert.deepEqual(await Promise.all(writes), [true, true, true]);
    assert.equal(await etcd.client.get(k1).string(), 'older');
    assert.equal(await etcd.client.get(k2).string(), 'newer', 'the last write of k2 wins');
  });

  it('drops unsent a queued write whose caller gave up, and commits the others', async () => {
    const prefix = uniquePrefix();
    const merged = new MergedCommits(etcd.client, { windowMs: 20 });
    let gaveUp = false;
    const stale = merged.commit([], [{ put: `${prefix}stale`, value: 'x' }], () => gaveUp);
    const fresh = merged.commit([], [{ put: `${prefix}fresh`, value: 'x' }], () => false);
    gaveUp = true; // within the window: before any transaction started
    await assert.rejects(stale, /dropped unsent/);
    assert.equal(await fresh, true);
    assert.deepEqual(await etcd.client.getAll().prefix(prefix).keys(), [`${prefix}fresh`]);
    assert.equal(merged.stats.abandoned, 1);
  });

  it('commits a write too large to share a transaction on its own, and answers an empty one at once', async () => {
    const prefix = uniquePrefix();
    const merged = new MergedCommits(etcd.client);
    const big: WriteOp[] = Array.from({ length: 2_000 }, (_, i) => ({ put: `${prefix}big/${i}`, value: 'v'.repeat(300) }));
    assert.equal(await merged.commit([], big), true);
    assert.equal((await etcd.client.getAll().prefix(`${prefix}big/`).keys()).length, 2_000);
    assert.equal(merged.stats.alone, 1);
    assert.equal(await merged.commit([], []), true);
  });

  it('loads a prefix of more than 4 MiB into a mirror (grpc-js refuses larger answers by default)', async () => {
    const prefix = uniquePrefix();
    const value = JSON.stringify({ pad: 'p'.repeat(1_000_000) });
    for (let i = 0; i < 6; i++) await etcd.client.put(`${prefix}${i}`).value(value);
    const mirror = await PrefixMirror.open(etcd.client, prefix, logger);
    try {
      assert.equal(mirror.entries.size, 6);
      assert.equal(mirror.entries.get(`${prefix}5`)?.value.length, value.length);
    } finally {
      await mirror.close();
    }
  });
});
