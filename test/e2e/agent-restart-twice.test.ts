/**
 * A second SIGTERM while the agent is still starting (an upgrade script that restarts twice, a
 * service manager's stop during a start): the run that takes over and leaves at once has no
 * window of its own (it never registered, so no hold was granted to it), yet the restart hold the
 * run before it left with still keeps the instances here (docs/agent-handover.md). Its watchdog
 * must keep the processes as long, not its own 2 s: a third run that comes a few seconds later
 * takes the same processes over. They were all killed and started again before.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { TestCluster } from '../helpers/test-cluster';
import { instanceProcesses } from '../helpers/instance-processes';
import { sleep, waitFor } from '../helpers/wait-for';

const APP = 'twice';
const AGENT = { id: 'twice-restarted' };

describe('an agent stopped again while it starts', { timeout: 120_000 }, () => {
  let cluster: TestCluster;

  before(async () => {
    cluster = await TestCluster.start({ agents: [AGENT] });
    await cluster.deployApp(APP, cluster.appDir(APP, { Procfile: 'worker: exec sleep 100000\n' }));
    await cluster.ok(['scale', 'worker=3', '-a', APP, '--wait']);
  });

  after(async () => {
    await cluster?.stop();
  });

  it('keeps the instances for the hold the run before it left with: a third run takes the same processes over', async () => {
    const pids = () => instanceProcesses(APP).map((g) => g.pgid).sort();
    const before = pids();
    assert.equal(before.length, 3);
    const first = cluster.agents.get(AGENT.id)!;
    await first.kill('SIGTERM');
    const logAt = fs.readFileSync(first.log, 'utf8').length;
    const second = cluster.startAgent(AGENT);
    await waitFor('the second run to take the instances over', () => fs.readFileSync(second.log, 'utf8').slice(logAt).includes('taking over the instances'), 30_000, 20);
    await second.kill('SIGTERM');
    // Longer than the 2 s window the second run had of its own; well within the 15 s hold.
    await sleep(4_000);
    assert.deepEqual(pids(), before, 'the processes ran on past the second run\'s own window');
    cluster.startAgent(AGENT);
    await cluster.waitForPs(APP, '3 workers up', (ps) => ps.length === 3 && ps.every((i) => i.state === 'up'), 30_000);
    assert.deepEqual(pids(), before, 'the third run took the same processes over');
  });
});
