/**
 * control-plane/etcd/one-cluster.ts against real etcds: `--etcd` endpoints of two etcd clusters
 * are refused before the control plane writes anything, naming each; two URLs of one member, or a
 * member that does not answer, are not.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Etcd3 } from 'etcd3';
import { checkOneEtcdCluster } from '../../control-plane/etcd/one-cluster';
import { freePort } from '../../lib/free-port';
import { clusterCommand, runCli } from '../helpers/cluster-binary';
import { testEtcd } from '../helpers/etcd';

describe('--etcd endpoints of one etcd cluster', { timeout: 60_000 }, () => {
  let a: Awaited<ReturnType<typeof testEtcd>>;
  let b: Awaited<ReturnType<typeof testEtcd>>;

  before(async () => {
    [a, b] = await Promise.all([testEtcd(), testEtcd()]);
  });

  after(async () => {
    await Promise.all([a?.cleanup(), b?.cleanup()]);
  });

  it('refuses members of two clusters, naming each', async () => {
    await assert.rejects(checkOneEtcdCluster([a.url, b.url]), (err: Error) => {
      assert.match(err.message, /^--etcd names members of 2 different etcd clusters: /);
      assert.ok(err.message.includes(`${a.url} (cluster id `) && err.message.includes(`${b.url} (cluster id `), err.message);
      return true;
    });
  });

  it('takes two URLs of one member, and a member that does not answer', async () => {
    await checkOneEtcdCluster([a.url, a.url.replace('127.0.0.1', 'localhost')]);
    await checkOneEtcdCluster([a.url, `http://127.0.0.1:${await freePort()}`]);
    await checkOneEtcdCluster([a.url]);
  });

  it('`cluster control-plane start` exits with the reason, having written nothing to etcd', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cluster-cp-'));
    try {
      const prefix = `/one-cluster-${process.pid}/`;
      const res = await runCli(
        clusterCommand(['control-plane', 'start', '--etcd', `${a.url},${b.url}`, '--listen', `127.0.0.1:${await freePort()}`, '--data-dir', dataDir, '--prefix', prefix]),
        { ...process.env, CLUSTER_HOME: dataDir },
        { timeoutMs: 30_000 },
      );
      assert.notEqual(res.code, 0);
      assert.match(res.stderr, /error: --etcd names members of 2 different etcd clusters/);
      for (const url of [a.url, b.url]) {
        const client = new Etcd3({ hosts: url });
        try {
          const written = await client.getAll().prefix(prefix).keys();
          assert.deepEqual(written, [], `nothing written to ${url}`);
        } finally {
          client.close();
        }
      }
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
