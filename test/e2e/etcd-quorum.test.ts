/**
 * A 3-member etcd: losing one member costs nothing; losing quorum answers "etcd is unreachable"
 * (exit 2) and marks `ps` and `agents` as stale while instances keep running; regaining quorum
 * recovers within 5 s.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TestCluster } from '../helpers/test-cluster';
import { isGone } from '../helpers/processes';
import { waitFor } from '../helpers/wait-for';
import { waitUntilServing } from '../helpers/api';
import { IDLE_LOOP } from '../helpers/idle-loop';

describe('3-member etcd', { timeout: 180_000 }, () => {
  let cluster: TestCluster;

  before(async () => {
    cluster = await TestCluster.start({ agents: [{ id: 'a1' }, { id: 'a2' }], etcdMembers: 3 });
    await cluster.deployApp('shop', cluster.appDir('shop', { Procfile: 'worker: sh loop.sh\n', 'loop.sh': IDLE_LOOP }));
    await cluster.ok(['scale', 'worker=2', '-a', 'shop', '--wait']);
  });

  after(async () => {
    await cluster?.stop();
  });

  it('keeps working with one member of three down', async () => {
    const [first] = cluster.etcd.members;
    await first!.kill('SIGKILL');
    await cluster.ok(['scale', 'worker=4', '-a', 'shop', '--wait', '--timeout', '30']);
    const ps = await cluster.cli(['ps', '-a', 'shop', '--json']);
    assert.equal(ps.code, 0, ps.stderr);
    const view = JSON.parse(ps.stdout) as { instances: Array<{ state: string }>; stale: unknown };
    assert.equal(view.stale, null);
    assert.equal(view.instances.filter((i) => i.state === 'up').length, 4);
    const agents = await cluster.cli(['agents', '--json']);
    assert.equal(agents.code, 0, agents.stderr);
    first!.spawn();
    await first!.waitUntilServing();
  });

  it('answers "etcd is unreachable" without quorum, marks listings stale, keeps instances, and recovers', async () => {
    const pids = (await cluster.ps('shop')).map((i) => i.pid!);
    assert.equal(pids.length, 4);
    const [, second, third] = cluster.etcd.members;
    await Promise.all([second!.kill('SIGKILL'), third!.kill('SIGKILL')]);

    const scale = await cluster.cli(['scale', 'worker=5', '-a', 'shop']);
    assert.equal(scale.code, 2, scale.stderr);
    assert.match(scale.stderr, /^error: etcd is unreachable from the control plane \(.+\)/m);
    // The view goes stale once etcd has not answered for a few seconds.
    const agents = await waitFor('agents to be marked stale', async () => {
      const res = await cluster.cli(['agents']);
      return res.code === 2 ? res : undefined;
    }, 15_000, 250);
    assert.match(agents.stderr, /etcd is unreachable from the control plane .*: what is shown is as of \d+s ago/);
    assert.match(agents.stdout, /ready\?/, 'no agent is shown as plainly ready');
    const ps = await cluster.cli(['ps', '-a', 'shop', '--json']);
    assert.equal(ps.code, 2, ps.stderr);
    const view = JSON.parse(ps.stdout) as { instances: Array<{ state: string }>; stale: { ageMs: number } | null };
    assert.ok(view.stale && view.stale.ageMs > 0);
    assert.ok(view.instances.every((i) => i.state === 'unknown'));
    for (const pid of pids) assert.ok(!isGone(pid), `instance ${pid} keeps running without quorum`);

    second!.spawn();
    third!.spawn();
    const backAt = Date.now();
    await Promise.all([second!.waitUntilServing(), third!.waitUntilServing()]);
    const quorumAt = Date.now();
    const recoveredMs = await waitUntilServing(cluster.server, 'shop', { worker: 4 }, 5_000);
    process.stderr.write(`# quorum back ${quorumAt - backAt} ms after the members restarted; everything works ${recoveredMs} ms later\n`);
    const current = await cluster.cli(['ps', '-a', 'shop', '--json']);
    assert.equal(current.code, 0, current.stderr);
    assert.equal((JSON.parse(current.stdout) as { stale: unknown }).stale, null);
    const after = await cluster.waitForPs('shop', 'all 4 workers up', (l) => l.length === 4 && l.every((i) => i.state === 'up'), 10_000);
    assert.deepEqual(after.map((i) => i.pid).sort(), [...pids].sort(), 'the same processes, none restarted');
  });
});
