/**
 * Agent restarts at awkward moments (docs/agent-handover.md):
 * - while one of its instances is in its grace period (a scale-down, the old process of a
 *   deploy): the next run finishes that stop as it was going, the same process, no second
 *   SIGTERM, its last lines in the logs, the SIGKILL deadline kept;
 * - with a state file it cannot use: the previous run's watchdog is still found and told to
 *   stand down, so it never stops the instances the new run started once its window runs out;
 * - while a web instance boots: it stays `starting` until it accepts connections on $PORT (it
 *   was shown `up` at once, so a rollout could move on before it listened);
 * - with an instance that started a helper in a session of its own (setsid): the helper is the
 *   instance's and is left alone, as under the previous run (it was stopped as a leftover), until
 *   the instance itself is stopped.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { TestCluster } from '../helpers/test-cluster';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fixture, isGone } from '../helpers/processes';
import { procEnviron } from '../../agent/supervisor/proc-stat';
import { waitFor } from '../helpers/wait-for';

// Counts the SIGTERMs it gets, then drains for ~12 s (within its 30 s grace) and exits by itself.
// Long enough for the new agent to be reading before it ends on a loaded machine: what a process
// prints just before it exits while no agent runs is lost with its pipe (docs/agent-handover.md).
const SLOW = `n=0
draining=0
term() { n=$((n + 1)); echo "TERM $n"; draining=1; }
trap term TERM
echo "ready $$"
while [ $draining = 0 ]; do sleep 0.1; done
i=0
while [ $i -lt 120 ]; do i=$((i + 1)); echo "draining $i"; sleep 0.1; done
echo "drained cleanly"
`;
const APP = 'drain';
const AGENT = { id: 'restarting' };

describe('agent restarts at awkward moments', { timeout: 180_000 }, () => {
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
    await waitFor('the process to drain and exit by itself', () => isGone(pid), 40_000, 100);
    const all = await waitFor('the last line in the logs', async () => {
      const got = await lines();
      return got.includes('drained cleanly') ? got : undefined;
    }, 20_000, 200);
    assert.ok(!all.includes('TERM 2'), `one SIGTERM only: ${all.filter((l) => l.startsWith('TERM')).join(', ')}`);
    const drained = all.filter((l) => /^draining \d+$/.test(l)).map((l) => Number(l.split(' ')[1]));
    assert.deepEqual(drained, Array.from({ length: 120 }, (_, i) => i + 1), 'every line it printed while draining, once, in order');
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

  it('keeps an instance adopted while it boots starting until it accepts connections', async () => {
    const app = 'lazy';
    // Listens 6 s after its start: the agent restarts in the middle of its boot.
    await cluster.deployApp(app, cluster.appDir(app, { Procfile: `web: exec node ${fixture('listen.js')} 6\n` }));
    await cluster.ok(['scale', 'web=1', '-a', app]);
    type Listed = { name: string; state: string; pid: number | null; port: number | null };
    const list = async () => (await cluster.cliJson<{ instances: Listed[] }>(['ps', '-a', app])).instances;
    const [booting] = await waitFor('web.1 starting', async () => {
      const l = await list();
      return l.length === 1 && l[0]!.state === 'starting' && l[0]!.pid ? l : undefined;
    }, 20_000, 100);
    const agent = cluster.agents.get(AGENT.id)!;
    const logBefore = fs.readFileSync(agent.log, 'utf8').length;
    await agent.kill('SIGTERM');
    cluster.startAgent(AGENT);
    await waitFor('the new agent to take web.1 over', () => fs.readFileSync(agent.log, 'utf8').slice(logBefore).includes('taking over the instances'), 20_000, 100);
    const up = await waitFor('web.1 up', async () => {
      const l = await list();
      return l[0]?.state === 'up' ? l[0] : undefined;
    }, 30_000, 100);
    assert.equal(up.pid, booting!.pid, 'the same process, taken over');
    // Up means it accepts connections: it was shown up while it still refused them.
    const accepted = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port: up.port! }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    assert.ok(accepted, `web.1 is up and accepts connections on ${up.port}`);
  });

  it('leaves alone the helper an adopted instance started in a session of its own', async () => {
    const app = 'helped';
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'helper-'));
    // The helper beats into a file every 0.1 s, and says so in another if it gets SIGTERM.
    const helper = `echo $$ > ${dir}/pid\ntrap 'echo TERM > ${dir}/term; exit 0' TERM\ni=0\nwhile :; do i=$((i + 1)); echo $i > ${dir}/beat; sleep 0.1; done\n`;
    await cluster.deployApp(app, cluster.appDir(app, { Procfile: 'main: sh main.sh\n', 'main.sh': 'setsid sh helper.sh &\nexec sleep 100000\n', 'helper.sh': helper }));
    await cluster.ok(['scale', 'main=1', '-a', app, '--wait']);
    const beat = () => Number(fs.readFileSync(path.join(dir, 'beat'), 'utf8').trim() || 0);
    await waitFor('the helper beating', () => fs.existsSync(path.join(dir, 'beat')) && beat() > 0, 10_000, 100);
    const [before] = await cluster.ps(app);
    const agent = cluster.agents.get(AGENT.id)!;
    const logBefore = fs.readFileSync(agent.log, 'utf8').length;
    await agent.kill('SIGTERM');
    cluster.startAgent(AGENT);
    // Leftovers get SIGTERM before this line is written; the helper's trap runs within 0.1 s.
    await waitFor('the new agent to take main.1 over', () => fs.readFileSync(agent.log, 'utf8').slice(logBefore).includes('taking over the instances'), 20_000, 100);
    const b0 = beat();
    await waitFor('the helper to beat on after the take-over', () => beat() >= b0 + 5, 10_000, 50);
    assert.equal(fs.existsSync(path.join(dir, 'term')), false, 'the helper got no SIGTERM');
    const newRun = fs.readFileSync(agent.log, 'utf8').slice(logBefore);
    assert.ok(!newRun.includes('cannot be adopted'), 'nothing was taken for a leftover');
    const [after] = await cluster.ps(app);
    assert.equal(after!.pid, before!.pid, 'the instance itself was taken over');
    // Once the instance it belongs to is stopped, the helper is stopped too (SIGTERM first).
    await cluster.ok(['scale', 'main=0', '-a', app]);
    const helperPid = Number(fs.readFileSync(path.join(dir, 'pid'), 'utf8'));
    await waitFor('the helper to be stopped with its instance', () => isGone(helperPid), 40_000, 100);
    assert.equal(fs.existsSync(path.join(dir, 'term')), true, 'the helper got SIGTERM');
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
