/**
 * `scale --wait` with one control-plane address, while that control plane is killed and started
 * again (`cluster dev` restarts its own; an upgrade of a lone replica): the change was made before
 * the wait began, so the wait carries on once the control plane answers again (cli/wait-reads.ts),
 * instead of failing with advice to run the command again (which applies `worker+3` twice).
 * `agents:drain --wait` the same (it gave up at the first refused connection, the drain going on).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TestCluster } from '../helpers/test-cluster';
import { waitFor } from '../helpers/wait-for';
import { callUnary } from '../../lib/grpc-call';

const APP = 'blip';

describe('--wait through a restart of the only control plane', { timeout: 120_000 }, () => {
  let cluster: TestCluster;

  before(async () => {
    cluster = await TestCluster.start({ agents: [{ id: 'host-a' }, { id: 'host-b' }] });
    await cluster.deployProcfile(APP, 'worker: sleep 100000\n');
    await cluster.ok(['scale', 'worker=1', '-a', APP, '--wait']);
  });

  after(async () => {
    await cluster?.stop();
  });

  it('waits the restart out and ends when every instance is up, the change applied once', async () => {
    const waiting = cluster.cli(['scale', 'worker+3', '-a', APP, '--wait', '--timeout', '60']);
    // The change is made: the formation lists 4 (a worker is up after 2 s alive, so the wait is on).
    await waitFor('worker=4 in the formation', async () => (await cluster.ps(APP)).length === 4, 20_000);
    const address = cluster.addresses[0]!;
    await cluster.controlPlane!.kill('SIGKILL');
    await cluster.startControlPlane(address);
    const wait = await waiting;
    assert.equal(wait.code, 0, wait.stderr);
    assert.match(wait.stdout, /worker=4/);
    assert.match(wait.stderr, /All instances up in/);
    const ps = await cluster.ps(APP);
    assert.deepEqual(ps.map((i) => `${i.name}:${i.state}`).sort(), ['worker.1:up', 'worker.2:up', 'worker.3:up', 'worker.4:up']);
  });

  it('waits a drain out through the restart, until the agent runs nothing', async () => {
    await cluster.waitForPs(APP, 'workers on both hosts', (l) => l.some((i) => i.host === 'host-b' && i.state === 'up'), 20_000);
    const waiting = cluster.cli(['agents:drain', 'host-b', '--wait', '--timeout', '60']);
    await waitFor('host-b draining', async () => (await callUnary(cluster.api, 'ListAgents', {})).agents.some((a) => a.id === 'host-b' && a.drained), 20_000, 50);
    const address = cluster.addresses[0]!;
    await cluster.controlPlane!.kill('SIGKILL');
    await cluster.startControlPlane(address);
    const wait = await waiting;
    assert.equal(wait.code, 0, wait.stderr);
    assert.match(wait.stderr, /host-b is drained/);
    const ps = await cluster.ps(APP);
    assert.ok(ps.every((i) => i.host === 'host-a' && i.state === 'up'), JSON.stringify(ps));
  });
});
