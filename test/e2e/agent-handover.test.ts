/**
 * Restarting or upgrading an agent leaves its instances running: SIGTERM + start, kill -9 +
 * start and a newer build all take the same processes over (same pids, same restart counts,
 * same ports), with every line printed during the gap in the logs, in order. An agent that
 * stays away past the hand-over window leaves nothing running; a crash after the take-over is
 * restarted; a state file pointing at a pid that now belongs to a stranger adopts nothing, and
 * the processes of another agent with the same id (another data dir) are never touched.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CLI, REPO, TestCluster, pidsMatching, type PsInstance } from '../helpers/test-cluster';
import { isGone, killQuietly } from '../helpers/processes';
import { waitFor } from '../helpers/wait-for';
import { runningUnder, TICKER } from '../helpers/handover-app';
import { procEnviron } from '../../agent/supervisor/proc-stat';
import type { LogBatch__Output } from '../../proto/gen/cluster/logs/LogBatch';

const APP = 'steady';
const AGENT = { id: 'solo' };

interface JsonLine {
  instance: string;
  stream: string;
  line: string;
}

function summary(instances: PsInstance[]): Array<{ name: string; pid: number | null; restarts: number; state: string }> {
  return instances.map((i) => ({ name: i.name, pid: i.pid, restarts: i.restarts, state: i.state })).sort((a, b) => a.name.localeCompare(b.name));
}

describe('agent hand-over', { timeout: 300_000 }, () => {
  let cluster: TestCluster;
  const strangers: number[] = [];
  let newerBuild: string | undefined;
  let twinPid = 0;
  const running = (app: string) => runningUnder(cluster.dir, app);

  const ticks = async (): Promise<number[]> => {
    const res = await cluster.cli(['logs', '-a', APP, '--ps', 'ticker.1', '-n', '100000', '--json']);
    assert.equal(res.code, 0, res.stderr);
    return res.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as JsonLine)
      .filter((l) => l.stream === 'stdout')
      .map((l) => Number(/^tick (\d+)$/.exec(l.line)?.[1] ?? NaN));
  };

  /** Every tick from 1 to the last, once each, in order: nothing lost, nothing doubled. */
  /**
   * A kill -9 may lose what the agent had read from the pipe but not yet written: the lines of
   * one turn of its event loop (docs/agent-handover.md). Each such kill allows one gap of at most
   * MAX_KILL_GAP ticks after the last tick seen before it; nothing else may be missing or moved.
   */
  const killedAfter: number[] = [];
  const MAX_KILL_GAP = 10;
  /** kill -9 of the agent, with the gap it may leave in ticker.1's log allowed. */
  const killAgent = async () => {
    killedAfter.push((await ticks()).at(-1) ?? 0);
    await cluster.agents.get(AGENT.id)!.kill('SIGKILL');
  };
  const assertTicksWhole = async (atLeast: number) => {
    const seen = await waitFor(`ticks past ${atLeast} in the logs`, async () => {
      const all = await ticks();
      return all.length > 0 && all[all.length - 1] > atLeast ? all : undefined;
    }, 20_000, 200);
    const allowed = [...killedAfter];
    let expected = 1;
    for (let i = 0; i < seen.length; i++) {
      const n = seen[i]!;
      const gapOk = n > expected && n - expected <= MAX_KILL_GAP && allowed.length > 0 && expected > allowed[0]!;
      if (gapOk) allowed.shift();
      const where = `…${seen.slice(Math.max(0, i - 3), i + 3).join(',')}… (${seen.length} lines)`;
      assert.ok(n === expected || gapOk, `tick ${expected} missing or out of order: ${where}`);
      expected = n + 1;
    }
  };

  const upAndSteady = async () => {
    const ps = await cluster.waitForPs(APP, 'every instance up', (l) => l.length === 4 && l.every((i) => i.state === 'up'));
    return summary(ps);
  };

  /** How many take-overs the agent's log records (it is appended to across restarts). */
  const takeOvers = () => fs.readFileSync(cluster.agents.get(AGENT.id)!.log, 'utf8').split('taking over the instances of the previous agent run').length;

  /** ticker.1's "Taken over …" lines, oldest first. */
  const takeOverLines = async (): Promise<string[]> => {
    const res = await cluster.cli(['logs', '-a', APP, '--ps', 'ticker.1', '-s', 'system', '-n', '100000', '--json']);
    assert.equal(res.code, 0, res.stderr);
    const lines = res.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => (JSON.parse(l) as JsonLine).line);
    // A process taken over was never stopped: its take-over line is all its log says.
    assert.ok(!lines.includes('State changed from stopped to up'), lines.join('\n'));
    return lines.filter((l) => l.startsWith('Taken over by a restarted agent'));
  };

  /**
   * Restarts the agent the given way and checks the instances were taken over as they were.
   * `died`: the agent was killed, so its take-over line says output may be missing (a hand-over's does not).
   */
  const restartAndCheck = async (stop: () => Promise<void>, start: () => void, died = false) => {
    const before = await upAndSteady();
    const processesBefore = running(APP);
    const lastTick = (await ticks()).at(-1) ?? 0;
    const takenOverBefore = (await takeOverLines()).length;
    await stop();
    // While no agent runs, ps shows the instances as they were: never stopped.
    const during = summary(await cluster.ps(APP));
    assert.deepEqual(during.map((i) => i.state), ['up', 'up', 'up', 'up']);
    const earlier = takeOvers();
    start();
    await waitFor('the new agent to take the instances over', () => takeOvers() > earlier, 20_000, 100);
    const afterwards = await upAndSteady();
    assert.deepEqual(afterwards, before, 'same pids, same restart counts');
    assert.deepEqual(running(APP), processesBefore, 'exactly the same processes run, one per instance');
    await assertTicksWhole(lastTick + 100);
    const line = await waitFor('ticker.1 to log its take-over', async () => (await takeOverLines())[takenOverBefore], 10_000, 200);
    assert.equal(/without a hand-over, so what it read of the output in its last 10 ms may be missing$/.test(line), died, line);
  };

  before(async () => {
    // An 8 s lease: a hand-over window of 6.5 s, time enough for an agent to start on a loaded
    // 2-core machine (the default 4 s lease gives 2.5 s, and 3.5 s after a SIGTERM).
    cluster = await TestCluster.start({ agents: [AGENT], agentTtl: 8 });
    const dir = cluster.appDir(APP, {
      Procfile: 'ticker: sh ticker.sh\nworker: sleep 100000\n',
      'ticker.sh': TICKER,
    });
    await cluster.deployApp(APP, dir);
    await cluster.ok(['scale', 'ticker=1', 'worker=3', '-a', APP, '--wait']);
    await assertTicksWhole(50);
  });

  after(async () => {
    for (const pid of strangers) killQuietly(pid);
    await cluster?.stop();
    if (newerBuild) fs.rmSync(newerBuild, { recursive: true, force: true });
  });

  it('takes the instances over after SIGTERM and a new start', async () => {
    await restartAndCheck(
      () => cluster.agents.get(AGENT.id)!.kill('SIGTERM'),
      () => cluster.startAgent(AGENT),
    );
  });

  it('shows a restarting host\'s lines to a `logs` asked in the gap: it waits for the next run instead of leaving them out', async () => {
    await cluster.agents.get(AGENT.id)!.kill('SIGTERM');
    // Asked through the API, so that the call is known to be in the control plane (its
    // metadata came) before the next run starts, whatever the machine's load.
    const call = cluster.api.Logs({ app: APP, lines: 20 });
    const got = { lines: [] as string[], warnings: [] as string[] };
    call.on('data', (b: LogBatch__Output) => {
      got.lines.push(...b.lines.map((l) => `${l.instance}: ${l.text}`));
      got.warnings.push(...b.warnings);
    });
    const ended = new Promise<void>((resolve, reject) => {
      call.on('end', resolve);
      call.on('error', reject);
    });
    await new Promise((resolve) => call.once('metadata', resolve));
    const earlier = takeOvers();
    cluster.startAgent(AGENT);
    await ended;
    assert.deepEqual(got.warnings, []);
    assert.equal(got.lines.length, 20, got.lines.join('\n'));
    assert.ok(got.lines.some((l) => l.startsWith('ticker.1: tick ')), got.lines.join('\n'));
    await waitFor('the new agent to take the instances over', () => takeOvers() > earlier, 20_000, 100);
  });

  it('stops one-offs at a restart (they are not handed over), says so in their logs, and drops them from ps', async () => {
    // An app with no instance on the agent: nothing else of it is reported by the next run.
    await cluster.deployProcfile('tools', 'idle: sleep 100000\n');
    const dataDir = path.join(cluster.dir, AGENT.id);
    const oneOffPids = (marker: string) => pidsMatching(marker).filter((pid) => procEnviron(pid).get('CLUSTER_AGENT_DIR') === dataDir);
    /** Starts a detached one-off; its name and pids once it runs. */
    const detached = async (marker: string): Promise<{ name: string; pids: number[] }> => {
      const started = await cluster.cli(['run', '-a', 'tools', '--detach', '--', marker]);
      assert.equal(started.code, 0, started.stderr);
      const name = /run\.\d+/.exec(started.stdout + started.stderr)?.[0];
      assert.ok(name, started.stdout + started.stderr);
      await cluster.waitForPs('tools', `${name} up`, (l) => l.some((i) => i.name === name && i.state === 'up'));
      return { name, pids: oneOffPids(marker) };
    };
    /** Restarts the agent after `stop`; resolves once the new run has taken the instances over. */
    const restart = async (stop: () => Promise<void>) => {
      const earlier = takeOvers();
      await stop();
      await cluster.agents.get(AGENT.id)!.exited;
      cluster.startAgent(AGENT);
      await waitFor('the new agent to take the instances over', () => takeOvers() > earlier, 20_000, 100);
    };
    const logOf = async (name: string) => (await cluster.cli(['logs', '-a', 'tools', '-d', name])).stdout;

    // A restart (SIGTERM): the leaving agent stops them, an attached caller gets the exit status.
    const quiet = await detached('sleep 100075');
    const attached = spawn(process.execPath, [CLI, 'run', '-a', 'tools', '--no-tty', '--', 'echo started; sleep 100076'], { env: cluster.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let attachedOut = '';
    let attachedErr = '';
    attached.stdout.on('data', (d: Buffer) => (attachedOut += d.toString()));
    attached.stderr.on('data', (d: Buffer) => (attachedErr += d.toString()));
    const attachedExit = new Promise<number | null>((resolve) => attached.on('exit', (code) => resolve(code)));
    await waitFor('the attached one-off running', () => attachedOut.includes('started') && oneOffPids('sleep 100076').length > 0, 20_000, 100);
    const attachedPids = oneOffPids('sleep 100076');
    await restart(() => cluster.agents.get(AGENT.id)!.kill('SIGTERM'));
    assert.ok([...quiet.pids, ...attachedPids].every(isGone), 'stopped by the leaving agent');
    const attachedStatus = await attachedExit;
    if (attachedStatus !== 143) {
      // What ended it otherwise: the run's own log says which signal the agent saw, and when.
      const name = /run\.\d+/.exec(attachedErr)?.[0];
      assert.fail(`the attached run ended with ${attachedStatus}, not 143 (stopped by SIGTERM); its stderr:\n${attachedErr}\nits log:\n${name ? await logOf(name) : '(no run name)'}`);
    }
    assert.match(await logOf(quiet.name), /Stopping process: the agent is restarting, and one-off processes are not handed over/);
    // The lease was kept: an end not reported would stay in ps as long as the agent runs.
    await cluster.waitForPs('tools', 'the one-offs gone from ps', (l) => !l.some((i) => i.type === 'run'));

    // A crash (kill -9): the next run's take-over stops what the dead run left, and reports its end.
    const left = await detached('sleep 100077');
    await restart(killAgent);
    await waitFor('the left one-off stopped', () => left.pids.every(isGone), 10_000, 100);
    await cluster.waitForPs('tools', `${left.name} gone from ps`, (l) => !l.some((i) => i.name === left.name));
    assert.match(await logOf(left.name), /Stopping process \(pid \d+\): the agent run that started it has ended, and one-off processes are not handed over/);
  });

  it('drops from ps a one-off that ended while no agent ran (nothing of it was left to stop)', async () => {
    // An app with no instance on the agent: the next run reports nothing else of it.
    await cluster.deployProcfile('jobs', 'idle: sleep 100000\n');
    const dataDir = path.join(cluster.dir, AGENT.id);
    const started = await cluster.cli(['run', '-a', 'jobs', '--detach', '--', 'sleep 100078']);
    assert.equal(started.code, 0, started.stderr);
    const name = /run\.\d+/.exec(started.stdout + started.stderr)?.[0];
    assert.ok(name, started.stdout + started.stderr);
    await cluster.waitForPs('jobs', `${name} up`, (l) => l.some((i) => i.name === name && i.state === 'up'));
    const pids = pidsMatching('sleep 100078').filter((pid) => procEnviron(pid).get('CLUSTER_AGENT_DIR') === dataDir);
    assert.ok(pids.length > 0, 'the one-off runs');
    const earlier = takeOvers();
    await killAgent();
    await cluster.agents.get(AGENT.id)!.exited;
    // It ends while no agent runs (as one whose output pipe closed with the agent does).
    for (const pid of pids) killQuietly(pid);
    await waitFor('the one-off ended', () => pids.every(isGone), 10_000, 50);
    cluster.startAgent(AGENT);
    await waitFor('the new agent to take the instances over', () => takeOvers() > earlier, 20_000, 100);
    // The lease was kept: an end not reported would stay in ps (and ps:stop would not find it).
    await cluster.waitForPs('jobs', `${name} gone from ps`, (l) => !l.some((i) => i.name === name));
    const log = (await cluster.cli(['logs', '-a', 'jobs', '-d', name])).stdout;
    assert.match(log, /ended while no agent ran/);
  });

  it('takes the instances over after kill -9 and a new start', async () => {
    await restartAndCheck(
      killAgent,
      () => cluster.startAgent(AGENT),
      true,
    );
  });

  it('takes the instances over when a newer build of the agent starts', async () => {
    // The same code under another version number, as an upgraded package would be.
    newerBuild = fs.mkdtempSync(path.join(REPO, '.upgrade-test-'));
    fs.cpSync(path.join(REPO, 'dist'), path.join(newerBuild, 'dist'), { recursive: true });
    fs.cpSync(path.join(REPO, 'proto'), path.join(newerBuild, 'proto'), { recursive: true });
    const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string };
    fs.writeFileSync(path.join(newerBuild, 'package.json'), JSON.stringify({ ...pkg, version: `${pkg.version}-newer` }));
    const newerCli = path.join(newerBuild, 'dist', 'cli', 'main.js');
    await restartAndCheck(
      () => cluster.agents.get(AGENT.id)!.kill('SIGTERM'),
      () => cluster.startAgent({ ...AGENT, cli: newerCli }),
    );
    const agents = await cluster.cliJson<{ agents: Array<{ id: string; version: string }> }>(['agents']);
    assert.equal(agents.agents[0].version, `${pkg.version}-newer`);
  });

  it("takes over instances whose FIFOs an older agent made in a folder each, and removes the folder with the instance", async () => {
    // Agents before 2026-12-01 kept each instance's FIFOs in `instances/<app>/<instance>/`.
    // Moving the pipes there while no agent runs makes that layout: the processes keep writing
    // into the same pipes (a renamed FIFO is the same pipe), and the state file names the paths.
    const fifoDir = path.join(cluster.dir, AGENT.id, 'instances', APP);
    const stateFile = path.join(cluster.dir, AGENT.id, 'instances.json');
    await restartAndCheck(
      async () => {
        await cluster.agents.get(AGENT.id)!.kill('SIGTERM');
        const state = JSON.parse(fs.readFileSync(stateFile, 'utf8')) as { instances: Array<{ instance: string; stdout: string; stderr: string }> };
        assert.equal(state.instances.length, 4);
        for (const record of state.instances) {
          const folder = path.join(fifoDir, record.instance);
          fs.mkdirSync(folder, { mode: 0o700 });
          for (const stream of ['stdout', 'stderr'] as const) {
            fs.renameSync(path.join(fifoDir, `${record.instance}.${stream}`), path.join(folder, stream));
            record[stream] = path.join(folder, stream);
          }
        }
        fs.writeFileSync(stateFile, JSON.stringify(state));
      },
      () => cluster.startAgent(AGENT),
    );
    assert.deepEqual(fs.readdirSync(fifoDir).sort(), ['ticker.1', 'worker.1', 'worker.2', 'worker.3']);

    await cluster.ok(['scale', 'worker=2', '-a', APP, '--wait']);
    await waitFor("worker.3's folder removed with it", () => !fs.existsSync(path.join(fifoDir, 'worker.3')), 10_000, 50);
    await cluster.ok(['scale', 'worker=3', '-a', APP, '--wait']);
    assert.ok(fs.lstatSync(path.join(fifoDir, 'worker.3.stdout')).isFIFO(), 'the new worker.3 has its pair beside the others');
    assert.deepEqual(fs.readdirSync(fifoDir).sort(), ['ticker.1', 'worker.1', 'worker.2', 'worker.3.stderr', 'worker.3.stdout']);
  });

  it('restarts an adopted instance that crashes', async () => {
    const before = (await cluster.ps(APP)).find((i) => i.name === 'worker.2')!;
    process.kill(before.pid!, 'SIGKILL');
    const after = await cluster.waitForPs(APP, 'worker.2 restarted', (l) =>
      l.some((i) => i.name === 'worker.2' && i.state === 'up' && i.pid !== before.pid && i.restarts === before.restarts + 1));
    const now = after.find((i) => i.name === 'worker.2')!;
    assert.deepEqual(running(APP).get('worker.2'), [now.pid]);
  });

  it('does not adopt a stranger that got a recorded pid', async () => {
    const daemon = cluster.agents.get(AGENT.id)!;
    const victim = (await cluster.ps(APP)).find((i) => i.name === 'worker.3')!;
    await daemon.kill('SIGTERM');
    // A process of someone else, and the state file saying worker.3 is that pid.
    const stranger = spawn('sleep', ['100000'], { detached: true, stdio: 'ignore' });
    strangers.push(stranger.pid!);
    // And an instance of another agent with the same id (another cluster on this machine).
    const twin = spawn('sleep', ['100000'], {
      detached: true,
      stdio: 'ignore',
      env: { ...process.env, CLUSTER_APP: 'elsewhere', CLUSTER_HOST: AGENT.id, CLUSTER_AGENT_DIR: path.join(cluster.dir, 'another-agent-named-solo') },
    });
    twinPid = twin.pid!;
    strangers.push(twinPid);
    const stateFile = path.join(cluster.dir, AGENT.id, 'instances.json');
    const state = JSON.parse(fs.readFileSync(stateFile, 'utf8')) as { instances: Array<{ instance: string; pid: number }> };
    state.instances.find((r) => r.instance === 'worker.3')!.pid = stranger.pid!;
    fs.writeFileSync(stateFile, JSON.stringify(state));
    cluster.startAgent(AGENT);
    const after = await cluster.waitForPs(APP, 'worker.3 running again', (l) =>
      l.some((i) => i.name === 'worker.3' && i.state === 'up' && i.pid !== victim.pid && i.pid !== stranger.pid));
    assert.equal(isGone(stranger.pid!), false, 'the stranger was left alone');
    assert.equal(isGone(twinPid), false, 'the other agent named solo keeps its instance');
    assert.ok(isGone(victim.pid!), 'the unrecorded instance process was stopped, not left to run twice');
    const now = after.find((i) => i.name === 'worker.3')!;
    assert.deepEqual(running(APP).get('worker.3'), [now.pid], 'one process for worker.3');
    assert.equal(running(APP).size, 4);
  });

  it('restarts every instance once, never twice, when the state file is corrupt', async () => {
    const before = await upAndSteady();
    await cluster.agents.get(AGENT.id)!.kill('SIGTERM');
    fs.writeFileSync(path.join(cluster.dir, AGENT.id, 'instances.json'), '{"version":1,"instances":[{"app":');
    cluster.startAgent(AGENT);
    const after = summary(await cluster.waitForPs(APP, 'every instance running again with a new pid', (l) =>
      l.length === 4 && l.every((i) => i.state === 'up' && !before.some((b) => b.pid === i.pid))));
    for (const b of before) assert.ok(isGone(b.pid!), `the old ${b.name} (pid ${b.pid}) was stopped`);
    assert.equal(isGone(twinPid), false, 'the other agent named solo keeps its instance');
    assert.deepEqual([...running(APP).entries()].sort(), after.map((i) => [i.name, [i.pid]]), 'one process per instance');
  });

  it('stops every instance when no agent comes back within the window', async () => {
    const pids = [...running(APP).values()].flat();
    assert.equal(pids.length, 4);
    await cluster.agents.get(AGENT.id)!.kill('SIGKILL');
    await waitFor('every instance process gone', () => pids.every(isGone), 15_000, 100);
    assert.equal(running(APP).size, 0);
  });
});
