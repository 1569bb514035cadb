/**
 * A release command and a scheduled run stopped because their agent restarts (one-offs are not
 * handed over, docs/agent-handover.md): the release's phase reason and the run's reason say so,
 * as their logs do, instead of a bare `killed by SIGTERM (status 143)` and an empty reason.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TestCluster } from '../helpers/test-cluster';
import { waitFor } from '../helpers/wait-for';

const APP = 'migrating';
const AGENT = { id: 'restarter' };
// The release command takes long only once SLOW is set: the first deploy goes live at once.
const RELEASE = 'if [ -n "$SLOW" ]; then sleep 600; fi\n';
const RESTARTING = /the agent is restarting, and one-off processes are not handed over/;

describe('one-offs stopped by an agent restart say why', { timeout: 120_000 }, () => {
  let cluster: TestCluster;

  before(async () => {
    cluster = await TestCluster.start({ agents: [AGENT] });
    await cluster.deployApp(APP, cluster.appDir(APP, { Procfile: 'release: sh release.sh\nworker: sleep 100000\n', 'release.sh': RELEASE }));
    await cluster.ok(['schedule:add', '@daily', '-a', APP, '--name', 'report', '--', 'sleep 600']);
  });

  after(async () => {
    await cluster?.stop();
  });

  it('puts the reason in the release phase and in the scheduled run', async () => {
    await cluster.ok(['config:set', 'SLOW=1', '-a', APP]);
    await cluster.ok(['schedule:run', 'report', '-a', APP]);
    await cluster.waitForPs(APP, 'the release command and the scheduled run up', (l) =>
      l.some((i) => i.type === 'release' && i.state === 'up') && l.some((i) => i.type === 'run' && i.state === 'up'), 30_000);
    await cluster.agents.get(AGENT.id)!.kill('SIGTERM');
    cluster.restartAgent(AGENT.id);

    type Release = { version: number; phase: string | null; phaseReason: string | null };
    const failed = await waitFor('the release phase failed', async () => {
      const { releases } = await cluster.cliJson<{ releases: Release[] }>(['releases', '-a', APP]);
      const newest = releases[0];
      return newest?.phase === 'failed' ? newest : undefined;
    }, 30_000, 200);
    assert.match(failed.phaseReason ?? '', /^killed by SIGTERM \(status 143\): /);
    assert.match(failed.phaseReason ?? '', RESTARTING);

    type Run = { state: string; exitStatus: number | null; reason: string | null };
    const run = await waitFor('the scheduled run recorded', async () => {
      const job = await cluster.cliJson<{ history: Run[] }>(['schedule', 'report', '-a', APP]);
      return job.history[0];
    }, 30_000, 200);
    assert.equal(run.state, 'failed');
    assert.match(run.reason ?? '', RESTARTING);
  });
});
