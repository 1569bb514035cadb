/**
 * A status etcd holds that is not the agent's latest heals by itself: the agent sends every
 * status again each `--status-resend` period, changed or not (docs/high-availability.md,
 * "Statuses heal"). Here the wrong status is written straight into etcd, as a report a replica
 * wrote late would land there (cut off from etcd with the write in flight, after the agent had
 * moved on to another replica), or as an etcd restored from a backup would hold it: under the
 * agent's lease, older pids, `starting`. Without the resend it stayed until the instances changed.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import type { Etcd3 } from 'etcd3';
import { TestCluster, type PsInstance } from '../helpers/test-cluster';
import { isGone } from '../helpers/processes';
import { createEtcdClient } from '../../control-plane/etcd/client';
import { Keys } from '../../control-plane/keys';

/** Seconds: the least --status-resend takes (±20 %). */
const RESEND_S = 10;

describe('statuses heal', { timeout: 120_000 }, () => {
  let cluster: TestCluster;
  let etcd: Etcd3;
  const keys = new Keys('/cluster/');

  before(async () => {
    cluster = await TestCluster.start({ agents: [{ id: 'host-a', args: ['--status-resend', String(RESEND_S)] }] });
    etcd = createEtcdClient(cluster.etcd.urls);
    await cluster.deployProcfile('shop', 'worker: sleep 100061\n');
  });

  after(async () => {
    etcd?.close();
    await cluster?.stop();
  });

  it('a status written late over the agent\'s newer one is set right by its next resend', async () => {
    await cluster.scale('shop', { worker: 2 });
    const up = (l: PsInstance[]) => l.length === 2 && l.every((i) => i.state === 'up' && i.pid);
    const real = await cluster.waitForPs('shop', '2 workers up', up, 30_000);
    for (const i of real) assert.ok(!isGone(i.pid!), `${i.name} runs as pid ${i.pid}`);
    const realPids = new Map(real.map((i) => [i.name, i.pid]));

    // The late write: the same key, under the agent's lease, with what an older report said.
    const key = keys.packedStatus('shop', 'host-a');
    const [kv] = (await etcd.get(key).exec()).kvs;
    assert.ok(kv, `the agent's statuses of shop are packed in ${key}`);
    const stale = JSON.parse(kv.value.toString()) as { instances: Record<string, { state: string; pid: number }> };
    for (const [n, entry] of Object.values(stale.instances).entries()) Object.assign(entry, { state: 'starting', pid: 4_000_000 + n });
    await etcd.put(key).value(JSON.stringify(stale)).lease(kv.lease);
    const wrongAt = Date.now();
    await cluster.waitForPs('shop', 'ps to show the late write', (l) => l.every((i) => i.state === 'starting' && i.pid! >= 4_000_000), 10_000);

    // Nothing changed on the host: only the resend sets it right.
    const healed = await cluster.waitForPs('shop', 'the real pids back, up', (l) => up(l) && l.every((i) => realPids.get(i.name) === i.pid), (RESEND_S * 1.2 + 10) * 1000);
    const tookS = (Date.now() - wrongAt) / 1000;
    assert.ok(tookS <= RESEND_S * 1.2 + 5, `healed after ${tookS} s`);
    for (const i of healed) assert.ok(!isGone(i.pid!), `${i.name} still runs as pid ${i.pid}`);
  });

  it('refuses a --status-resend out of its range, before anything starts', async () => {
    for (const bad of ['5', '1.5', 'often', '86401']) {
      const res = await cluster.cli(['agent', 'start', '--server', cluster.server, '--data-dir', path.join(cluster.dir, 'bad'), '--status-resend', bad]);
      assert.equal(res.code, 1, res.stderr);
      assert.match(res.stderr, new RegExp(`--status-resend ${bad.replace('.', '\\.')}: give whole seconds from 10 to 86400 \\(a day\\)`));
    }
  });
});
