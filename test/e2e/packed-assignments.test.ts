/**
 * Assignments packed per agent and app (docs/architecture.md, "Assignments"), end to end: the
 * leader writes each agent's share of an app as one value, and the agents run what it holds.
 * While a replica of an older version is in the set (its record names no `packed-assignments`)
 * the leader writes every group back per instance, with nothing changing, and packs again
 * once it is gone; no layout change restarts or stops an instance.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Etcd3 } from 'etcd3';
import { TestCluster, type PsInstance } from '../helpers/test-cluster';
import { isGone } from '../helpers/processes';
import { createEtcdClient } from '../../control-plane/etcd/client';
import { Keys } from '../../control-plane/keys';
import { IDLE_LOOP } from '../helpers/idle-loop';

const allUp = (n: number) => (list: PsInstance[]) => list.length === n && list.every((i) => i.state === 'up');

describe('packed assignments', { timeout: 180_000 }, () => {
  let cluster: TestCluster;
  let etcd: Etcd3;
  const keys = new Keys('/cluster/');

  /** The assignment keys of app `shop`: packed ones by agent, per-instance ones by instance. */
  async function assignmentKeys(): Promise<{ packed: string[]; single: string[] }> {
    const all = await etcd.getAll().prefix(keys.allAssignments()).keys();
    return {
      packed: all.flatMap((k) => (keys.parsePackedAssignments(k)?.app === 'shop' ? [keys.parsePackedAssignments(k)!.agentId] : [])).sort(),
      single: all.flatMap((k) => (keys.parseAssignment(k)?.app === 'shop' ? [keys.parseAssignment(k)!.instance] : [])).sort(),
    };
  }

  async function waitForKeys(what: string, check: (s: { packed: string[]; single: string[] }) => boolean): Promise<void> {
    const deadline = Date.now() + 20_000;
    let last = await assignmentKeys();
    while (!check(last)) {
      assert.ok(Date.now() < deadline, `assignment keys ${what}: ${JSON.stringify(last)}`);
      await new Promise((r) => setTimeout(r, 100));
      last = await assignmentKeys();
    }
  }

  /** Every instance runs, once, with the pid it had in `before` when given. */
  async function assertSame(before: PsInstance[]): Promise<void> {
    const now = await cluster.ps('shop');
    const pids = (list: PsInstance[]) => Object.fromEntries(list.map((i) => [i.name, i.pid]));
    assert.deepEqual(pids(now), pids(before), 'the same instances, not restarted');
    for (const i of now) assert.ok(i.state === 'up' && i.pid && !isGone(i.pid), `${i.name} runs as pid ${i.pid}`);
  }

  before(async () => {
    cluster = await TestCluster.start({ agents: [{ id: 'host-a' }, { id: 'host-b' }] });
    etcd = createEtcdClient(cluster.etcd.urls);
    await cluster.deployProcfile('shop', 'worker: sh loop.sh\n', { 'loop.sh': IDLE_LOOP });
  });

  after(async () => {
    etcd?.close();
    await cluster?.stop();
  });

  it('stores one value per agent and app, and agents run what it holds', async () => {
    await cluster.scale('shop', { worker: 6 });
    const six = await cluster.waitForPs('shop', '6 workers up', allUp(6), 30_000);
    assert.deepEqual(await assignmentKeys(), { packed: ['host-a', 'host-b'], single: [] });
    await assertSame(six);

    // One instance restarted: only it gets a new pid, though its agent's whole value is rewritten.
    const target = six[0]!;
    await cluster.ok(['ps:restart', target.name, '-a', 'shop']);
    const restarted = await cluster.waitForPs('shop', `${target.name} restarted`, (l) => allUp(6)(l) && l.find((i) => i.name === target.name)?.pid !== target.pid, 30_000);
    assert.deepEqual(
      restarted.filter((i) => i.name !== target.name).map((i) => i.pid),
      six.filter((i) => i.name !== target.name).map((i) => i.pid),
      'the others were not restarted',
    );
  });

  it('writes every group per instance while an older replica is in the set, and packs again once it is gone', async () => {
    const running = await cluster.waitForPs('shop', '6 workers up', allUp(6), 30_000);
    // An older replica's record: `packed-statuses` only (what the version before this one writes).
    const lease = etcd.lease(30);
    const old = keys.replica('older-replica');
    await lease.put(old).value(JSON.stringify({ id: 'older-replica', address: '127.0.0.1:1', version: '0.0.1', startedAt: new Date().toISOString(), features: ['packed-statuses'] }));
    try {
      // Nothing else changes: the leader rewrites the groups because the set changed.
      await waitForKeys('per instance', (s) => s.packed.length === 0 && s.single.length === 6);
      await assertSame(running);
      await cluster.scale('shop', { worker: 8 });
      await cluster.waitForPs('shop', '8 workers up', allUp(8), 30_000);
      await waitForKeys('per instance', (s) => s.packed.length === 0 && s.single.length === 8);
    } finally {
      await lease.revoke();
    }
    const eight = await cluster.waitForPs('shop', '8 workers up', allUp(8), 30_000);
    // Nothing is rewritten only to pack it: the groups stay per instance until they change.
    assert.deepEqual((await assignmentKeys()).packed, []);
    await cluster.scale('shop', { worker: 9 });
    const nine = await cluster.waitForPs('shop', '9 workers up', allUp(9), 30_000);
    // The group that got worker.9 is packed again; the other agent's stays per instance.
    const host9 = nine.find((i) => i.name === 'worker.9')!.host;
    const others = nine.filter((i) => i.host !== host9).map((i) => i.name).sort();
    await waitForKeys('the changed group packed again', (s) => s.packed.join() === host9 && s.single.join() === others.join());
    const kept = nine.filter((i) => eight.some((e) => e.name === i.name));
    assert.deepEqual(kept.map((i) => i.pid), eight.map((i) => i.pid), 'packing again restarted nothing');

    await cluster.scale('shop', { worker: 0 });
    await cluster.waitForPs('shop', 'no worker', (l) => l.length === 0, 30_000);
    await waitForKeys('none left', (s) => s.packed.length === 0 && s.single.length === 0);
    for (const i of nine) assert.ok(isGone(i.pid!), `${i.name} (pid ${i.pid}) stopped`);
  });
});
