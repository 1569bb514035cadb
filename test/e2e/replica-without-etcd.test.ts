/**
 * One replica cut off from etcd while another reads it: the CLI, given both (the cut-off one
 * first), answers from the one that reads etcd. The cut-off replica answers reads from its last
 * view, marked stale (exit 2 when it is all there is); that answer is no reason to stop asking,
 * only what is left when no replica can read etcd.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { freePort } from '../../lib/free-port';
import { TestCluster } from '../helpers/test-cluster';
import { tcpProxy, type TcpProxy } from '../helpers/tcp-proxy';
import { waitFor } from '../helpers/wait-for';

interface PsJson {
  instances: Array<{ name: string; state: string }>;
  stale: { ageMs: number } | null;
}

describe('a replica cut off from etcd beside one that reads it', { timeout: 120_000 }, () => {
  let cluster: TestCluster;
  let proxy: TcpProxy;
  let cutOff: string;

  before(async () => {
    cluster = await TestCluster.start({ agents: [{ id: 'solo' }] });
    // The second replica reaches etcd through a proxy the test closes.
    proxy = await tcpProxy(Number(new URL(cluster.etcd.urls[0]!).port));
    cutOff = `127.0.0.1:${await freePort()}`;
    await cluster.startControlPlane(cutOff, ['--etcd', `http://127.0.0.1:${proxy.port}`]);
    await cluster.deployApp('shop', cluster.appDir('shop', { Procfile: 'worker: exec sleep 100000\n' }));
    await cluster.ok(['scale', 'worker=1', '-a', 'shop', '--wait']);
  });

  after(async () => {
    await proxy?.close();
    await cluster?.stop();
  });

  it('ps, apps and agents answer fresh from the other replica, and see a change made meanwhile', async () => {
    await proxy.close();
    await waitFor('the cut-off replica to answer from its last view, marked stale', async () => {
      const res = await cluster.cli(['ps', '-a', 'shop', '--json'], { server: cutOff });
      return res.code === 2 && (JSON.parse(res.stdout) as PsJson).stale !== null;
    }, 30_000, 200);

    const both = `${cutOff},${cluster.server}`;
    await cluster.ok(['scale', 'worker=2', '-a', 'shop']);
    for (const args of [['ps', '-a', 'shop'], ['apps'], ['agents']]) {
      const res = await cluster.cli([...args, '--json'], { server: both });
      assert.equal(res.code, 0, `${args.join(' ')}: ${res.stderr}`);
      assert.equal((JSON.parse(res.stdout) as { stale: unknown }).stale, null, `${args.join(' ')} answered fresh`);
    }
    const ps = JSON.parse((await cluster.cli(['ps', '-a', 'shop', '--json'], { server: both })).stdout) as PsJson;
    assert.deepEqual(ps.instances.map((i) => i.name), ['worker.1', 'worker.2'], 'the scale made through the other replica');
  });
});
