/**
 * A deploy or rollback to a release without a process type the formation runs stops its
 * instances, and says so on stderr (cli/dropped-types.ts); the count is kept for a release
 * that has the type again, unless `ps:scale TYPE=0` forgets it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TestCluster, type PsInstance } from '../helpers/test-cluster';
import { waitFor } from '../helpers/wait-for';

describe('a release that drops a process type', { timeout: 120_000 }, () => {
  let cluster: TestCluster;
  const workers = async () =>
    (await cluster.cliJson<{ instances: PsInstance[] }>(['ps', '-a', 'drop'])).instances.filter((i) => i.type === 'worker');

  before(async () => {
    cluster = await TestCluster.start({ agents: [{ id: 'host-a' }] });
    await cluster.ok(['apps:create', 'drop']);
    await cluster.ok(['deploy', cluster.appDir('drop-1', { Procfile: 'worker: sleep 600\nclock: sleep 600\n' }), '-a', 'drop']);
    await cluster.ok(['scale', 'worker=2', '-a', 'drop', '--wait']);
  });

  after(async () => {
    await cluster?.stop();
  });

  it('deploy names the type and count that stop, and the instances go', async () => {
    const res = await cluster.cli(['deploy', cluster.appDir('drop-2', { Procfile: 'workers: sleep 600\nclock: sleep 600\n' }), '-a', 'drop']);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stderr, /warning: v2 of drop has no `worker` process type, so worker=2 stops \(2 instances\) once it runs/);
    await waitFor('the workers to stop', async () => (await workers()).length === 0, 30_000);
  });

  it('rollback to a release with the type says nothing of it and runs the kept count again; back to one without it warns', async () => {
    const back = await cluster.cli(['rollback', 'v1', '-a', 'drop', '--wait']);
    assert.equal(back.code, 0, back.stderr);
    assert.doesNotMatch(back.stderr, /process type/);
    assert.equal((await workers()).length, 2);
    const again = await cluster.cli(['rollback', 'v2', '-a', 'drop']);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /warning: v4 of drop has no `worker` process type, so worker=2 stops .*`cluster ps:scale worker=0 -a drop` forgets it/);
  });

  it('ps:scale TYPE=0 forgets the kept count: a release with the type again runs none', async () => {
    const refused = await cluster.cli(['scale', 'worker=1', '-a', 'drop']);
    assert.equal(refused.code, 1, refused.stdout);
    assert.match(refused.stderr, /process type `worker` is not in release v4/);
    await cluster.ok(['scale', 'worker=0', '-a', 'drop']);
    const back = await cluster.cli(['rollback', 'v1', '-a', 'drop', '--wait']);
    assert.equal(back.code, 0, back.stderr);
    assert.deepEqual(await workers(), []);
    assert.equal((await cluster.cli(['scale', '-a', 'drop'])).stdout, 'clock=0 worker=0\n');
  });
});
