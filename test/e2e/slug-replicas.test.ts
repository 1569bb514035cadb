/**
 * Slugs on every replica, with real daemons: an app deployed through replica A starts from
 * replica B after A is killed (SIGKILL), and a replica started after the deploy holds the
 * slug without being asked.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { freePort } from '../../lib/free-port';
import { pidsMatching, TestCluster } from '../helpers/test-cluster';
import { waitFor } from '../helpers/wait-for';

describe('slugs on every replica (real daemons)', { timeout: 180_000 }, () => {
  let cluster: TestCluster;
  let a: string;
  let b: string;
  let marker: string;

  before(async () => {
    cluster = await TestCluster.start({ replicas: 2 });
    [a, b] = cluster.servers as [string, string];
    // The agents know both replicas; the deploy goes through A, everything after it through B.
    await cluster.startAgentsOnEveryReplica(['host-1', 'host-2']);
    cluster.server = b;
    marker = `slug-marker-${process.pid}`;
  });

  after(async () => {
    await cluster?.stop();
  });

  it('starts instances from B of an app deployed through A, after A is killed', async () => {
    const dir = cluster.appDir('shop', {
      Procfile: `worker: exec sh ./${marker}.sh\n`,
      [`${marker}.sh`]: `trap 'exit 0' TERM\nwhile true; do sleep 1 & wait $!; done\n`,
    });
    const viaA = async (args: string[]) => {
      const res = await cluster.cli(args, { server: a });
      assert.equal(res.code, 0, `cluster ${args.join(' ')} via A: ${res.stderr}`);
    };
    await viaA(['apps:create', 'shop']);
    await viaA(['deploy', dir, '-a', 'shop']);
    const [release] = (await cluster.cliJson<{ releases: Array<{ slug: string }> }>(['releases', '-a', 'shop'])).releases;
    const digest = release!.slug;
    // Already on B when deploy returned.
    assert.ok(fs.existsSync(path.join(cluster.controlPlaneDataDir(b), 'slugs', `${digest}.tgz`)), 'B holds the slug');

    await cluster.controlPlanes[0]!.kill('SIGKILL');
    // A deploy through B while killed A is still listed as a replica (its lease has not
    // expired): B cannot copy to A, and the deploy succeeds anyway, promptly.
    fs.writeFileSync(path.join(dir, 'VERSION'), '2\n');
    const started = Date.now();
    await cluster.ok(['deploy', dir, '-a', 'shop']);
    assert.ok(Date.now() - started < 15_000, `deploy took ${Date.now() - started} ms`);
    await cluster.ok(['scale', 'worker=3', '-a', 'shop']);
    const up = await cluster.waitForPs('shop', '3 worker instances up from B', (ps) => ps.length === 3 && ps.every((i) => i.state === 'up'), 40_000);
    assert.equal(up.filter((i) => i.reason.includes('slug')).length, 0);
    await waitFor('3 app processes', () => pidsMatching(`${marker}.sh`).length === 3, 10_000);

    // A replica started now, after the deploy and with A gone, fetches the slug by itself.
    const c = `127.0.0.1:${await freePort()}`;
    await cluster.startControlPlane(c);
    const onC = path.join(cluster.controlPlaneDataDir(c), 'slugs', `${digest}.tgz`);
    await waitFor('the later replica to hold the slug', () => fs.existsSync(onC), 15_000);
    assert.deepEqual(fs.readFileSync(onC), fs.readFileSync(path.join(cluster.controlPlaneDataDir(b), 'slugs', `${digest}.tgz`)));
  });
});
