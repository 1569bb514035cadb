/**
 * `scale --wait` right after the first agents register, as a provisioning script (or `cluster
 * dev`, started again) runs it: the leader said "no agents registered" before they came, and
 * places them only after its settling wait. That outdated reason once ended the wait at once
 * ("cannot be placed: no agents registered") while `cluster agents` listed the agents ready.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TestCluster } from '../helpers/test-cluster';

describe('scale --wait as agents register', { timeout: 120_000 }, () => {
  let cluster: TestCluster;

  before(async () => {
    cluster = await TestCluster.start({ agents: [] });
    await cluster.deployApp('shop', cluster.appDir('shop', { Procfile: 'worker: sleep 600\n' }));
    await cluster.ok(['scale', 'worker=2', '-a', 'shop']);
  });

  after(async () => {
    await cluster?.stop();
  });

  it('says why nothing runs while no agent is registered, and fails the wait at once', async () => {
    const list = await cluster.waitForPs('shop', 'workers pending for want of agents', (l) =>
      l.length === 2 && l.every((i) => i.state === 'pending' && i.reason === 'no agents registered'));
    assert.equal(list.length, 2);
    const wait = await cluster.cli(['scale', 'worker=2', '-a', 'shop', '--wait', '--timeout', '30']);
    assert.equal(wait.code, 1, wait.stderr);
    assert.match(wait.stderr, /2 instance\(s\) cannot be placed: no agents registered/);
  });

  it('waits for the placement instead once an agent has registered, and the reason says so meanwhile', async () => {
    await cluster.startReadyAgent({ id: 'host-a' });
    const [ps, wait] = await Promise.all([
      cluster.ps('shop'),
      cluster.cli(['scale', 'worker=2', '-a', 'shop', '--wait', '--timeout', '30']),
    ]);
    assert.equal(wait.code, 0, wait.stderr);
    // Asked within the leader's settling wait (1 s) unless the machine is very slow: still
    // pending then, for the new reason; placed already otherwise.
    for (const i of ps) {
      if (i.state === 'pending') assert.equal(i.reason, 'waiting for the scheduler: an agent registered since it last tried to place this instance');
      else assert.equal(i.host, 'host-a');
    }
    const up = await cluster.ps('shop');
    assert.deepEqual(up.map((i) => `${i.name}:${i.state}@${i.host}`), ['worker.1:up@host-a', 'worker.2:up@host-a']);
  });
});
