/**
 * An agent with `--disconnected-grace` that freezes (SIGSTOP, its event loop stuck) runs no
 * timer and closes no pipe, yet the control plane re-places its work once its lease expires:
 * its watchdog kills it and stops its processes once no tick has come for the grace, so no
 * instance runs twice, checked in the process table. Started again, it runs nothing twice.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TestCluster } from '../helpers/test-cluster';
import { instanceProcesses, isGone } from '../helpers/processes';
import { waitFor } from '../helpers/wait-for';

// Process-table checks see the whole machine: a name no other test uses.
const APP = `frozen-${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}`;
const WORKERS = 4;

/** Names running more than one process, and how many processes run in all. */
function census(): { twice: string[]; total: number } {
  const table = instanceProcesses(APP);
  return { twice: [...table].filter(([, pids]) => pids.length > 1).map(([name]) => name), total: [...table.values()].flat().length };
}

describe('an agent with a disconnected grace, frozen', { timeout: 120_000 }, () => {
  let cluster: TestCluster;

  before(async () => {
    // A grace shorter than the lease's TTL (2 s here): stopped before anything is re-placed.
    cluster = await TestCluster.start({ agents: [{ id: 'fz-a', args: ['--disconnected-grace', '1'] }, { id: 'fz-b' }] });
    await cluster.deployProcfile(APP, 'worker: sleep 100000\n');
    await cluster.ok(['scale', `worker=${WORKERS}`, '-a', APP, '--wait']);
  });

  after(async () => {
    await cluster?.stop();
  });

  it('is killed by its watchdog with its processes before they could run twice; started again, it runs nothing twice', async () => {
    const onA = (await cluster.ps(APP)).filter((i) => i.host === 'fz-a' && i.pid);
    assert.ok(onA.length > 0, 'fz-a runs workers');
    const frozen = cluster.agents.get('fz-a')!;
    let worst = 0;
    const sampler = setInterval(() => (worst = Math.max(worst, census().twice.length)), 100);
    try {
      process.kill(frozen.pid, 'SIGSTOP');
      await waitFor("fz-a's processes stopped and fz-a killed by its watchdog", () => onA.every((i) => isGone(i.pid!)) && isGone(frozen.pid), 20_000);
      await cluster.waitForPs(APP, `all ${WORKERS} up on fz-b`, (ps) => ps.filter((i) => i.state === 'up' && i.host === 'fz-b').length === WORKERS, 30_000);
      assert.deepEqual(census(), { twice: [], total: WORKERS });
      // Started again (systemd would), it finds nothing to take over and owns nothing.
      cluster.restartAgent('fz-a');
      await cluster.waitForAgent('fz-a');
      await waitFor('a steady process table', async () => {
        const ps = await cluster.ps(APP);
        return ps.filter((i) => i.state === 'up').length === WORKERS && census().total === WORKERS;
      }, 30_000);
    } finally {
      clearInterval(sampler);
    }
    assert.equal(worst, 0, 'no instance ran twice at any sample');
    assert.deepEqual(census().twice, []);
  });
});
