/**
 * Instance statuses packed per agent and app (docs/architecture.md, "Instance statuses"), end
 * to end: real agents report whole apps, the control plane stores one value per agent and app,
 * and `ps` and a rollout read them. While a replica of an older version is in the set (one
 * whose record names no `packed-statuses`), agents hear "not packed" (in their heartbeats'
 * answers too, so with nothing changing) and unpack; once it is gone they pack again, and the
 * per-instance records left behind hide nothing newer.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Etcd3 } from 'etcd3';
import { TestCluster, type PsInstance } from '../helpers/test-cluster';
import { isGone } from '../helpers/processes';
import { createEtcdClient } from '../../control-plane/etcd/client';
import { Keys } from '../../control-plane/keys';
import { IDLE_LOOP } from '../helpers/idle-loop';

const allUp = (n: number, command?: string) => (list: PsInstance[]) =>
  list.length === n && list.every((i) => i.state === 'up' && (command === undefined || i.command === command));

describe('packed instance statuses', { timeout: 180_000 }, () => {
  let cluster: TestCluster;
  let etcd: Etcd3;
  const keys = new Keys('/cluster/');

  /** The status keys of `app`, split into packed (`@agent`) and per-instance ones. */
  async function statusKeys(app: string): Promise<{ packed: string[]; single: string[] }> {
    const all = await etcd.getAll().prefix(keys.statuses(app)).keys();
    return {
      packed: all.flatMap((k) => (keys.parsePackedStatus(k) ? [keys.parsePackedStatus(k)!.agentId] : [])).sort(),
      single: all.flatMap((k) => (keys.parseStatus(k) ? [k] : [])),
    };
  }

  function assertRunning(list: PsInstance[]): void {
    for (const i of list) assert.ok(i.pid && !isGone(i.pid), `${i.name} runs as pid ${i.pid}`);
    assert.equal(new Set(list.map((i) => i.name)).size, list.length, `each instance once: ${JSON.stringify(list.map((i) => i.name))}`);
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

  it('stores one value per agent and app, which ps and a rollout read', async () => {
    await cluster.scale('shop', { worker: 6 });
    assertRunning(await cluster.waitForPs('shop', '6 workers up', allUp(6), 30_000));
    const stored = await statusKeys('shop');
    assert.deepEqual(stored.packed, ['host-a', 'host-b']);
    assert.deepEqual(stored.single, [], 'no key an instance');

    // A new release rolls out: the leader paces it by the packed statuses.
    await cluster.deployProcfile('shop', 'worker: sh loop.sh v2\n', { 'loop.sh': IDLE_LOOP });
    const rolled = await cluster.waitForPs('shop', 'every worker up on v2', allUp(6, 'sh loop.sh v2'), 60_000);
    assertRunning(rolled);

    await cluster.scale('shop', { worker: 2 });
    assertRunning(await cluster.waitForPs('shop', '2 workers', allUp(2), 30_000));
  });

  it('unpacks while an older replica is in the set, and packs again once it is gone', async () => {
    // An older replica's record: no `features` (what a version before packing writes).
    const lease = etcd.lease(30);
    const old = keys.replica('older-replica');
    await lease.put(old).value(JSON.stringify({ id: 'older-replica', address: '127.0.0.1:1', version: '0.0.1', startedAt: new Date().toISOString() }));
    try {
      // Nothing changes: the agents hear it from their heartbeats' answers.
      await waitForKeys('per instance', (s) => s.packed.length === 0 && s.single.length === 2);
      await cluster.scale('shop', { worker: 4 });
      assertRunning(await cluster.waitForPs('shop', '4 workers up', allUp(4), 30_000));
      await waitForKeys('per instance', (s) => s.packed.length === 0 && s.single.length === 4);
    } finally {
      await lease.revoke();
    }
    await cluster.scale('shop', { worker: 5 });
    const list = await cluster.waitForPs('shop', '5 workers up', allUp(5), 30_000);
    assertRunning(list);
    await waitForKeys('packed again', (s) => s.packed.length > 0);
    // Restarted again: ps shows each instance once, running, from the packed values.
    const before = new Set(list.map((i) => i.pid));
    await cluster.ok(['ps:restart', '-a', 'shop']);
    const restarted = (l: PsInstance[]) => allUp(5)(l) && l.every((i) => !before.has(i.pid));
    await cluster.waitForPs('shop', '5 workers restarted', restarted, 30_000);
    await waitForKeys('packed by both agents', (s) => s.packed.length === 2);
    // The records the agents wrote per instance were swept by their first packed report.
    assert.deepEqual(await statusKeys('shop'), { packed: ['host-a', 'host-b'], single: [] });
    const now = await cluster.ps('shop');
    assert.equal(now.length, 5);
    assertRunning(now);

    // Scaled to 0: each gone instance takes its records along, packed and per instance.
    await cluster.scale('shop', { worker: 0 });
    await cluster.waitForPs('shop', 'no worker', (l) => l.length === 0, 30_000);
    await waitForKeys('none left', (s) => s.packed.length === 0 && s.single.length === 0);
    for (const i of now) assert.ok(isGone(i.pid!), `${i.name} (pid ${i.pid}) stopped`);
  });

  async function waitForKeys(what: string, check: (s: { packed: string[]; single: string[] }) => boolean): Promise<void> {
    const deadline = Date.now() + 20_000;
    let last = await statusKeys('shop');
    while (!check(last)) {
      assert.ok(Date.now() < deadline, `status keys ${what}: ${JSON.stringify(last)}`);
      await new Promise((r) => setTimeout(r, 100));
      last = await statusKeys('shop');
    }
  }
});
