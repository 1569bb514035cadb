/**
 * The disconnected grace end to end: with the control plane gone, an agent started with
 * `--disconnected-grace` stops its instances once the grace has passed, one without it keeps
 * them running, and both run again what they are given once the control plane is back. Also
 * when etcd, not the control plane, was away: the one replica stayed up (the agent's assignment
 * stream never broke) but answered heartbeats UNAVAILABLE; once etcd is back the agent must ask
 * for a fresh snapshot to run its instances again (it once stayed stopped for good). And with two
 * replicas that both lost etcd: the agent switches between them, and each switch reopens its
 * assignment stream; those snapshots come from replicas without etcd and must not run anything
 * (they once restarted every instance a second after the grace had stopped them).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { TestCluster, type PsInstance } from '../helpers/test-cluster';
import { procEnviron } from '../../agent/supervisor/proc-stat';
import { isGone } from '../helpers/processes';
import { waitFor } from '../helpers/wait-for';

const LOOP = `trap 'exit 0' TERM
while true; do sleep 1 & wait $!; done
`;

describe('disconnected grace', { timeout: 120_000 }, () => {
  let cluster: TestCluster;

  before(async () => {
    cluster = await TestCluster.start({
      agents: [
        { id: 'strict', args: ['--disconnected-grace', '2'] },
        { id: 'patient' },
      ],
    });
    await cluster.deployApp('shop', cluster.appDir('shop', { Procfile: 'worker: sh loop.sh\n', 'loop.sh': LOOP }));
    await cluster.ok(['scale', 'worker=2', '-a', 'shop', '--wait']);
  });

  after(async () => {
    await cluster?.stop();
  });

  it('stops the instances of an agent with a grace once no control plane answers, and keeps the others', async () => {
    const list = await cluster.ps('shop');
    const on = (host: string) => list.find((i) => i.host === host) as PsInstance;
    const [strict, patient] = [on('strict'), on('patient')];
    assert.ok(strict && patient, `one worker on each agent: ${JSON.stringify(list)}`);
    const cutAt = Date.now();
    await cluster.controlPlanes.at(-1)!.kill('SIGKILL');
    await waitFor('the strict agent to stop its worker', () => isGone(strict.pid!), 15_000, 50);
    assert.ok(Date.now() - cutAt >= 1_500, 'not before the grace');
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    assert.ok(!isGone(patient.pid!), 'the agent without a grace keeps its worker running');

    await cluster.startControlPlane();
    await cluster.waitForPs('shop', 'both workers up again', (l) => l.filter((i) => i.state === 'up').length === 2, 30_000);
  });
});

describe('disconnected grace through an etcd outage behind the one replica', { timeout: 120_000 }, () => {
  let cluster: TestCluster;

  before(async () => {
    cluster = await TestCluster.start({ agents: [{ id: 'alone', args: ['--disconnected-grace', '2'] }] });
    await cluster.deployApp('shop', cluster.appDir('shop', { Procfile: 'worker: sh loop.sh\n', 'loop.sh': LOOP }));
    await cluster.ok(['scale', 'worker=1', '-a', 'shop', '--wait']);
  });

  after(async () => {
    await cluster?.stop();
  });

  it('stops the instances while etcd is away and runs them again once it is back', async () => {
    const [before] = await cluster.ps('shop');
    assert.ok(before?.pid, `worker.1 runs: ${JSON.stringify(before)}`);
    const etcd = cluster.etcd.members[0]!;
    await etcd.kill('SIGSTOP');
    try {
      await waitFor('the agent to stop its worker after the grace', () => isGone(before.pid!), 20_000, 50);
    } finally {
      await etcd.kill('SIGCONT');
    }
    const [again] = await cluster.waitForPs('shop', 'worker.1 up again', (l) => l.length === 1 && l[0]!.state === 'up' && !!l[0]!.pid && l[0]!.pid !== before.pid, 30_000);
    assert.equal(again!.host, 'alone');
    assert.ok(!isGone(again!.pid!), `the process ps names (${again!.pid}) really runs`);
  });
});

/** Pids of processes of `app` run by agent `host` (by the markers every instance carries). */
function processesOf(app: string, host: string): number[] {
  const out: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const env = procEnviron(Number(entry));
    if (env.get('CLUSTER_APP') === app && env.get('CLUSTER_HOST') === host && !isGone(Number(entry))) out.push(Number(entry));
  }
  return out;
}

describe('disconnected grace through an etcd outage behind two replicas', { timeout: 120_000 }, () => {
  let cluster: TestCluster;

  before(async () => {
    cluster = await TestCluster.start({ replicas: 2 });
    await cluster.deployApp('shop', cluster.appDir('shop', { Procfile: 'worker: sh loop.sh\n', 'loop.sh': LOOP }));
    cluster.startAgent({ id: 'both', server: cluster.servers.join(','), args: ['--disconnected-grace', '2'] });
    await cluster.waitForAgent('both');
    await cluster.ok(['scale', 'worker=2', '-a', 'shop', '--wait']);
  });

  after(async () => {
    await cluster?.stop();
  });

  it('keeps the instances stopped while the replicas it switches between have no etcd', async () => {
    const before = processesOf('shop', 'both');
    assert.ok(before.length >= 2, `the workers run: ${before.join(', ')}`);
    const etcd = cluster.etcd.members[0]!;
    await etcd.kill('SIGSTOP');
    try {
      await waitFor('the agent to stop its workers after the grace', () => before.every(isGone), 20_000, 50);
      const log = cluster.agents.get('both')!.log;
      await waitFor('the agent to switch replicas while cut off', () => /control-plane replica unreachable: switching/.test(fs.readFileSync(log, 'utf8')), 20_000, 100);
      // The agent tries each replica in turn and reopens its stream on each: nothing may start meanwhile.
      const watchUntil = Date.now() + 4_000;
      while (Date.now() < watchUntil) {
        assert.deepEqual(processesOf('shop', 'both'), [], 'no worker runs while no replica reaches etcd');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    } finally {
      await etcd.kill('SIGCONT');
    }
    await cluster.waitForPs('shop', 'both workers up again', (l) => l.filter((i) => i.state === 'up').length === 2, 30_000);
    assert.equal(processesOf('shop', 'both').length >= 2, true, 'and their processes run');
  });
});
