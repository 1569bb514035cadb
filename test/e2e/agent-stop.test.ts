/**
 * `cluster agent stop`: a plain stop hands the instances over; `--stop-instances` stops them and
 * the agent's one-offs first, whichever state the agent is in (running, gone, still taking over,
 * dying while it stops), and the command returns once they are gone (docs/agent-handover.md).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CLI, TestCluster, pidsMatching } from '../helpers/test-cluster';
import { isGone } from '../helpers/processes';
import { waitFor } from '../helpers/wait-for';
import { runningUnder, TICKER } from '../helpers/handover-app';
import { procEnviron } from '../../agent/supervisor/proc-stat';

const APP = 'steady';
const AGENT = { id: 'solo' };

describe('cluster agent stop', { timeout: 300_000 }, () => {
  let cluster: TestCluster;
  const running = (app: string) => runningUnder(cluster.dir, app);
  /** How many take-overs the agent's log records (it is appended to across restarts). */
  const takeOvers = () => fs.readFileSync(cluster.agents.get(AGENT.id)!.log, 'utf8').split('taking over the instances of the previous agent run').length;

  before(async () => {
    // An 8 s lease, as in agent-handover.test.ts. The agent starts in the first test.
    cluster = await TestCluster.start({ agentTtl: 8 });
    await cluster.deployApp(APP, cluster.appDir(APP, { Procfile: 'ticker: sh ticker.sh\nworker: sleep 100000\n', 'ticker.sh': TICKER }));
    await cluster.ok(['scale', 'ticker=1', 'worker=3', '-a', APP]);
  });

  after(async () => {
    await cluster?.stop();
  });

  it('cluster agent stop hands over; with --stop-instances it stops every instance first', async () => {
    cluster.startAgent(AGENT);
    // ps alone could show the statuses the killed agent left under its lease: ask the host too.
    await cluster.waitForPs(APP, 'every instance running again', (l) => {
      const real = running(APP);
      return real.size === 4 && l.length === 4 && l.every((i) => i.state === 'up' && real.get(i.name)?.[0] === i.pid);
    }, 30_000);
    const dataDir = path.join(cluster.dir, AGENT.id);
    const handedOver = await cluster.cli(['agent', 'stop', '--data-dir', dataDir]);
    assert.equal(handedOver.code, 0, handedOver.stderr);
    assert.match(handedOver.stderr, /instances keep running/);
    await cluster.agents.get(AGENT.id)!.exited;
    const pids = [...running(APP).values()].flat();
    assert.equal(pids.length, 4, `the instances run on after a plain stop: ${JSON.stringify([...running(APP)])}`);
    const earlier = takeOvers();
    cluster.startAgent(AGENT);
    // Its pid file comes before the take-over: wait for the take-over itself, or `agent stop
    // --stop-instances` could reach an agent that does not hold the instances yet.
    await waitFor('the new agent to take them over', () => takeOvers() > earlier, 20_000, 100);
    await cluster.waitForPs(APP, 'the same pids up', (l) => l.length === 4 && l.every((i) => i.state === 'up' && pids.includes(i.pid!)));
    // One-offs too, attached or detached: nothing of the agent's is left running.
    const detached = await cluster.cli(['run', '-a', APP, '--detach', '--', 'sleep 100071']);
    assert.equal(detached.code, 0, detached.stderr);
    const attached = spawn(process.execPath, [CLI, 'run', '-a', APP, '--no-tty', '--', 'echo started; sleep 100072'], { env: cluster.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let attachedOut = '';
    attached.stdout.on('data', (d: Buffer) => (attachedOut += d.toString()));
    const attachedExit = new Promise<number | null>((resolve) => attached.on('exit', (code) => resolve(code)));
    // Their processes on the host: this agent's (the attached CLI's own command line names the sleep too).
    const oneOff = (marker: string) => pidsMatching(marker).filter((pid) => procEnviron(pid).get('CLUSTER_AGENT_DIR') === dataDir);
    await waitFor('both one-offs running', () => attachedOut.includes('started') && oneOff('sleep 100071').length > 0 && oneOff('sleep 100072').length > 0, 20_000, 100);
    const oneOffPids = [...oneOff('sleep 100071'), ...oneOff('sleep 100072')];
    const stopped = await cluster.cli(['agent', 'stop', '--stop-instances', '--data-dir', dataDir]);
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.ok(pids.every(isGone), 'every instance stopped by the time the command returned');
    assert.deepEqual(oneOffPids.filter((pid) => !isGone(pid)), [], 'every one-off stopped by the time the command returned');
    assert.equal(await attachedExit, 143, 'the attached run ends with its process, stopped by SIGTERM');
    // Gone or a zombie: the command waits for the process to end; reaping it is this test's
    // job (its parent), which may come a moment after the command's own exit is seen.
    assert.ok(isGone(cluster.agents.get(AGENT.id)!.pid), 'the agent ended by the time the command returned');
    // Its lease ended with it, not a TTL (8 s) later: no longer ready at once (unreachable within a
    // young leader's grace, else down), so no `cluster run` is sent to it meanwhile.
    const stoppedAt = Date.now();
    const state = async () => (await cluster.cliJson<{ agents: Array<{ id: string; state: string }> }>(['agents'])).agents.find((a) => a.id === AGENT.id)?.state;
    await waitFor('the agent no longer ready', async () => ['down', 'unreachable'].includes((await state()) ?? ''), 20_000, 100);
    assert.ok(Date.now() - stoppedAt < 4_000, `gone ${Date.now() - stoppedAt} ms after the stop, not once its 8 s lease ran out`);
    const run = await cluster.cli(['run', '-a', APP, '--', 'true']);
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, /no agent is ready to run a one-off process/);
  });

  /** Starts the agent, waits until it runs all 4 instances, hands them over with a plain stop; their pids. */
  const runThenHandOver = async (): Promise<number[]> => {
    cluster.startAgent(AGENT);
    await cluster.waitForPs(APP, 'every instance running again', (l) => {
      const real = running(APP);
      return real.size === 4 && l.length === 4 && l.every((i) => i.state === 'up' && real.get(i.name)?.[0] === i.pid);
    }, 30_000);
    const handedOver = await cluster.cli(['agent', 'stop', '--data-dir', path.join(cluster.dir, AGENT.id)]);
    assert.equal(handedOver.code, 0, handedOver.stderr);
    await cluster.agents.get(AGENT.id)!.exited;
    const pids = [...running(APP).values()].flat();
    assert.equal(pids.length, 4, `the instances run on after a plain stop: ${JSON.stringify([...running(APP)])}`);
    return pids;
  };

  it('agent stop --stop-instances with no agent running stops what the last run left, each with its grace period', async () => {
    const pids = await runThenHandOver();
    // Within the hand-over window (7.5 s with the 8 s lease): the watchdog has not stopped them.
    const stopped = await cluster.cli(['agent', 'stop', '--stop-instances', '--data-dir', path.join(cluster.dir, AGENT.id)]);
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.match(stopped.stderr, /No agent was running with the data dir .*; stopped the 4 instances its last run left running: .*steady ticker\.1 \(pid \d+\)/);
    assert.ok(pids.every(isGone), `every instance stopped by the time the command returned: ${JSON.stringify([...running(APP)])}`);
    const again = await cluster.cli(['agent', 'stop', '--stop-instances', '--data-dir', path.join(cluster.dir, AGENT.id)]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /No agent is running with the data dir .*, and nothing it started is running/);
  });

  it('agent stop --stop-instances that reaches an agent still taking over stops the instances once it holds them', async () => {
    const pids = await runThenHandOver();
    const dataDir = path.join(cluster.dir, AGENT.id);
    cluster.startAgent(AGENT);
    // As soon as the new run claims the data dir, before its take-over is done.
    await waitFor('the new agent to claim the data dir', () => fs.existsSync(path.join(dataDir, 'agent.pid')), 20_000, 10);
    const stopped = await cluster.cli(['agent', 'stop', '--stop-instances', '--data-dir', dataDir]);
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.ok(pids.every(isGone), `every instance stopped by the time the command returned: ${JSON.stringify([...running(APP)])}`);
    assert.equal(running(APP).size, 0);
    await cluster.agents.get(AGENT.id)!.exited;
  });

  it('agent stop --stop-instances whose agent dies while stopping stops what it left, and says so', async () => {
    const registrations = () => fs.readFileSync(cluster.agents.get(AGENT.id)!.log, 'utf8').split('registered with the control plane').length;
    const earlier = registrations();
    const agent = cluster.startAgent(AGENT);
    const dataDir = path.join(cluster.dir, AGENT.id);
    // ps alone could show what the last run left under the lease this run reuses (at another
    // address): ask the host too, and wait for the registration.
    await cluster.waitForPs(APP, 'every instance running again', (l) => {
      const real = running(APP);
      return real.size === 4 && l.length === 4 && l.every((i) => i.state === 'up' && real.get(i.name)?.[0] === i.pid);
    }, 30_000);
    await waitFor('the new run registered', () => registrations() > earlier, 20_000, 100);
    // A one-off that ignores SIGTERM keeps the agent stopping for its 5 s grace.
    const started = await cluster.cli(['run', '-a', APP, '--detach', '--', "trap '' TERM; sleep 100074; :"]);
    assert.equal(started.code, 0, started.stderr);
    const stubborn = () => pidsMatching('sleep 100074').filter((pid) => procEnviron(pid).get('CLUSTER_AGENT_DIR') === dataDir);
    await waitFor('the one-off running', () => stubborn().length > 0, 20_000, 100);
    const oneOffPids = stubborn();
    const stopping = cluster.cli(['agent', 'stop', '--stop-instances', '--data-dir', dataDir]);
    await waitFor('the instances stopped, the one-off not yet', () => [...running(APP).keys()].every((name) => name.startsWith('run.')), 20_000, 50);
    assert.ok(oneOffPids.every((pid) => !isGone(pid)), 'the one-off still runs, within its grace');
    await agent.kill('SIGKILL');
    const stopped = await stopping;
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.match(stopped.stderr, /The agent \(pid \d+\) ended before it had stopped everything; stopped 1 process group it left running/);
    assert.ok(oneOffPids.every(isGone), 'what the agent left is stopped by the time the command returned');
  });

  it('agents:drain of the only ready agent says its instances stay, as they do, and --wait says why', async () => {
    cluster.startAgent(AGENT);
    await cluster.waitForPs(APP, 'every instance running again', (l) => {
      const real = running(APP);
      return real.size === 4 && l.length === 4 && l.every((i) => i.state === 'up' && real.get(i.name)?.[0] === i.pid);
    }, 30_000);
    const before = (await cluster.ps(APP)).map((i) => `${i.name}:${i.pid}`).sort();
    const drained = await cluster.ok(['agents:drain', AGENT.id]);
    assert.match(drained.stdout, /^Draining solo: no other agent is ready, so its 4 instance\(s\) have nowhere to go and keep running there; they move once another agent is ready/);
    assert.doesNotMatch(drained.stdout, /move to other agents/);
    const wait = await cluster.cli(['agents:drain', AGENT.id, '--wait', '--timeout', '60']);
    assert.equal(wait.code, 1, wait.stderr);
    assert.match(wait.stderr, /4 instance\(s\) cannot move off solo: no ready agent/);
    assert.deepEqual((await cluster.ps(APP)).map((i) => `${i.name}:${i.pid}`).sort(), before, 'they keep running where they are');
    await cluster.ok(['agents:activate', AGENT.id]);
  });
});
