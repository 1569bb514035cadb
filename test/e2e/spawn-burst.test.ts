/**
 * The core loop under load (issue 9, point 1): 300 real processes started at once on three
 * agents of this machine converge in one pass — exactly 300 processes from then on, no
 * restarts, and no agent ever loses its lease while starting its share.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { TestCluster } from '../helpers/test-cluster';
import { countInstanceProcesses } from '../helpers/processes';
import { waitFor } from '../helpers/wait-for';

const N = 300;
// The process table is the whole machine's: a name no other test uses.
const APP = `burst-${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}`;
const WORKER = `trap 'exit 0' TERM
while true; do sleep 5 & wait $!; done
`;

describe('a burst of 300 instances', { timeout: 180_000 }, () => {
  let cluster: TestCluster;

  before(async () => {
    // The production lease TTL (4 s): the fix must hold without a longer one.
    cluster = await TestCluster.start({
      agentTtl: 4,
      agents: [{ id: 'burst-a', ports: 200 }, { id: 'burst-b', ports: 200 }, { id: 'burst-c', ports: 200 }],
    });
    await cluster.deployApp(APP, cluster.appDir('burst', { Procfile: 'worker: sh worker.sh\n', 'worker.sh': WORKER }));
  });

  after(async () => {
    await cluster?.stop();
  });

  it('converges once: never more than N processes, then exactly N with the same pids, no restarts, no lease lost', async () => {
    let most = 0;
    let watching = true;
    // Sampled all along the ramp: a kill-and-restart cycle would show up as more than N.
    const sampler = (async () => {
      while (watching) {
        most = Math.max(most, countInstanceProcesses(APP));
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    })();
    try {
      const res = await cluster.cli(['scale', `worker=${N}`, '-a', APP, '--wait', '--timeout', '90'], { timeoutMs: 120_000 });
      assert.equal(res.code, 0, res.stderr);
      await waitFor(`${N} instance processes running`, () => countInstanceProcesses(APP) === N, 30_000, 200);

      const first = await cluster.ps(APP);
      assert.equal(first.length, N);
      const odd = first.filter((i) => i.state !== 'up' || i.restarts !== 0);
      assert.deepEqual(odd.map((i) => `${i.name}@${i.host}: ${i.state}, ${i.restarts} restarts (${i.reason})`).slice(0, 5), [], 'every instance up, none restarted');
      const pids = new Map(first.map((i) => [i.name, i.pid]));
      assert.equal(new Set(pids.values()).size, N, 'one process per instance');
      // Steady from now on: for ~3 lease TTLs nothing is restarted or moved, and the count stays N.
      const until = Date.now() + 12_000;
      while (Date.now() < until) {
        assert.equal(countInstanceProcesses(APP), N);
        const now = await cluster.ps(APP);
        assert.equal(now.length, N);
        for (const i of now) {
          assert.equal(i.state, 'up', `${i.name} is ${i.state}: ${i.reason}`);
          assert.equal(i.pid, pids.get(i.name), `${i.name} kept its process`);
          assert.equal(i.restarts, 0, `${i.name} was not restarted`);
        }
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    } finally {
      watching = false;
      await sampler;
    }
    assert.ok(most <= N, `at most ${N} processes at any moment (saw ${most})`);
    for (const id of cluster.agents.keys()) {
      const log = fs.readFileSync(`${cluster.dir}/${id}.log`, 'utf8');
      assert.doesNotMatch(log, /lease lost/, `${id} kept its lease`);
      assert.equal(log.match(/registered with the control plane/g)?.length, 1, `${id} registered once`);
    }
  });
});
