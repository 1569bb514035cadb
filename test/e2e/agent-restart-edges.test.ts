/**
 * Agent restarts at awkward moments (docs/agent-handover.md):
 * - while one of its instances is in its grace period (a scale-down, the old process of a
 *   deploy): the next run finishes that stop as it was going, the same process, no second
 *   SIGTERM, its last lines in the logs, the SIGKILL deadline kept;
 * - with a state file it cannot use: the previous run's watchdog is still found and told to
 *   stand down, so it never stops the instances the new run started once its window runs out.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { TestCluster } from '../helpers/test-cluster';
import * as path from 'node:path';
import { isGone } from '../helpers/processes';
import { procEnviron } from '../../agent/supervisor/proc-stat';
import { waitFor } from '../helpers/wait-for';

// Counts the SIGTERMs it gets, then drains for ~4 s (well within its 30 s grace) and exits by itself.
const SLOW = `n=0
draining=0
term() { n=$((n + 1)); echo "TERM $n"; draining=1; }
trap term TERM
echo "ready $$"
while [ $draining = 0 ]; do sleep 0.1; done
i=0
while [ $i -lt 40 ]; do i=$((i + 1)); echo "draining $i"; sleep 0.1; done
echo "drained cleanly"
`;
const APP = 'drain';
const AGENT = { id: 'restarting' };

describe('agent restarts at awkward moments', { timeout: 120_000 }, () => {
  let cluster: TestCluster;

  before(async () => {
    // A lease long enough for a restart on a loaded machine: what is tested is the stop.
    cluster = await TestCluster.start({ agents: [AGENT], agentTtl: 8 });
    await cluster.deployApp(APP, cluster.appDir(APP, { Procfile: 'slow: sh slow.sh\n', 'slow.sh': SLOW }));
    await cluster.ok(['ps:grace', 'slow=30', '-a', APP]);
    await cluster.ok(['scale', 'slow=1', '-a', APP, '--wait']);
  });

  after(async () => {
    await cluster?.stop();
  });

  const lines = async (): Promise<string[]> => {
    const res = await cluster.cli(['logs', '-a', APP, '-n', '10000', '--json']);
    assert.equal(res.code, 0, res.stderr);
    return res.stdout.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { line: string }).line);
  };

  it('finishes the stop of an instance in its grace period, with one SIGTERM and every line', async () => {
    const [instance] = await cluster.ps(APP);
    const pid = instance!.pid!;
    await cluster.ok(['scale', 'slow=0', '-a', APP]);
    await waitFor('the instance to get SIGTERM', async () => (await lines()).includes('TERM 1'), 20_000, 100);
    const agent = cluster.agents.get(AGENT.id)!;
    await agent.kill('SIGTERM');
    const logBefore = fs.readFileSync(agent.log, 'utf8').length;
    cluster.startAgent(AGENT);
    await waitFor('the process to drain and exit by itself', () => isGone(pid), 30_000, 100);
    const all = await waitFor('the last line in the logs', async () => {
      const got = await lines();
      return got.includes('drained cleanly') ? got : undefined;
    }, 20_000, 200);
    assert.ok(!all.includes('TERM 2'), `one SIGTERM only: ${all.filter((l) => l.startsWith('TERM')).join(', ')}`);
    const drained = all.filter((l) => /^draining \d+$/.test(l)).map((l) => Number(l.split(' ')[1]));
    assert.deepEqual(drained, Array.from({ length: 40 }, (_, i) => i + 1), 'every line it printed while draining, once, in order');
    assert.ok(all.some((l) => /^Still stopping \(.*SIGTERM sent by the previous agent run\)$/.test(l)), 'the log says the stop goes on');
    const newRun = fs.readFileSync(agent.log, 'utf8').slice(logBefore);
    assert.ok(!newRun.includes('cannot be adopted'), 'the stopping instance was adopted, not taken for a leftover');
    await cluster.waitForPs(APP, 'no instance left', (l) => l.length === 0);
  });

  it('tells the previous watchdog to stand down even when the state file is unusable', async () => {
    await cluster.ok(['scale', 'slow=2', '-a', APP, '--wait']);
    const oldPids = (await cluster.ps(APP)).map((i) => i.pid);
    const agent = cluster.agents.get(AGENT.id)!;
    const dataDir = path.resolve(cluster.agentDir(AGENT.id));
    const watchdogs = () =>
      fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e)).map(Number)
        .filter((pid) => procEnviron(pid).get('CLUSTER_GUARD_DIR') === dataDir && !isGone(pid));
    await agent.kill('SIGTERM');
    const [previous] = watchdogs();
    assert.ok(previous, 'the previous run left its watchdog waiting out the hand-over window');
    fs.writeFileSync(path.join(dataDir, 'instances.json'), '{"version":1,"instan');
    cluster.startAgent(AGENT);
    const started = await cluster.waitForPs(APP, 'both instances started afresh (nothing to adopt)', (l) => l.length === 2 && l.every((i) => i.state === 'up' && !oldPids.includes(i.pid)), 30_000);
    // Gone at once when told; left waiting, it would stop both instances at the end of its window.
    await waitFor('the previous watchdog to exit', () => isGone(previous), 20_000, 100);
    const after = await cluster.ps(APP);
    assert.deepEqual(after.map((i) => [i.name, i.pid, i.restarts]).sort(), started.map((i) => [i.name, i.pid, i.restarts]).sort(), 'the same processes, never restarted');
    for (const i of after) assert.ok(!isGone(i.pid!), `${i.name} (pid ${i.pid}) runs`);
  });
});
