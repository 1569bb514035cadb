/** `cluster run`: one-off processes with their output, input, signals and exit status. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CLI, pidsMatching, TestCluster } from '../helpers/test-cluster';
import { groupLeaderWithPid, isGone } from '../helpers/processes';
import { sleep, waitFor } from '../helpers/wait-for';

describe('cluster run', { timeout: 180_000 }, () => {
  let cluster: TestCluster;
  const env = () => ({ ...process.env, CLUSTER_SERVER: cluster.server, CLUSTER_HOME: path.join(cluster.dir, 'home') });

  before(async () => {
    // A 4 s lease: the last case runs a one-off while a killed agent is still registered.
    cluster = await TestCluster.start({ agents: [{ id: 'host-a' }, { id: 'host-b' }], agentTtl: 4 });
    const dir = cluster.appDir('tools', { Procfile: 'worker: sleep 100000\n', 'hello.txt': 'from the slug\n' });
    await cluster.deployApp('tools', dir);
    await cluster.ok(['config:set', 'GREETING=hi there', '-a', 'tools']);
  });

  after(async () => {
    await cluster?.stop();
  });

  /** `cluster run` in the background (the CLI's own process): its stdout so far, and its exit code. */
  const startRun = (args: string[]) => {
    const child = spawn(process.execPath, [CLI, 'run', '-a', 'tools', ...args], { env: env(), stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    return { child, out: () => out, exited };
  };

  for (const [code, command] of [[0, 'true'], [3, 'exit 3'], [137, 'kill -9 $$']] as const) {
    it(`returns the remote exit status ${code}`, async () => {
      const res = await cluster.cli(['run', '-a', 'tools', '--', command]);
      assert.equal(res.code, code, res.stderr);
    });
  }

  it('streams output in order, in the release, with the config and its own name', async () => {
    const res = await cluster.cli(['run', '-a', 'tools', '--', 'for i in 1 2 3 4 5; do echo line $i; done; cat hello.txt; echo "$GREETING/$DYNO" >&2']);
    assert.equal(res.code, 0, res.stderr);
    assert.equal(res.stdout, 'line 1\nline 2\nline 3\nline 4\nline 5\nfrom the slug\n');
    assert.match(res.stderr, /hi there\/run\.\d+/);
  });

  it('quotes several words so sh -c runs exactly them, and forwards stdin', async () => {
    const res = await cluster.cli(['run', '-a', 'tools', '--', 'sh', '-c', 'read a; echo "got $a"'], { input: 'piped words\n' });
    assert.equal(res.code, 0, res.stderr);
    assert.equal(res.stdout, 'got piped words\n');
    const lots = 'x'.repeat(200_000);
    const echo = await cluster.cli(['run', '-a', 'tools', '--', 'wc -c'], { input: lots });
    assert.equal(echo.stdout.trim(), '200000');
  });

  it("gives the command its own options without a -- (ls -d is not run's --detach)", async () => {
    const res = await cluster.cli(['run', '-a', 'tools', '--no-tty', 'echo', '-d', '-la', '--help', '-a', 'x']);
    assert.equal(res.code, 0, res.stderr);
    assert.equal(res.stdout, '-d -la --help -a x\n');
    const sh = await cluster.cli(['run', '--no-tty', '-a', 'tools', 'sh', '-c', 'echo "$0 $1"', 'a', '-b']);
    assert.equal(sh.code, 0, sh.stderr);
    assert.equal(sh.stdout, 'a -b\n');
    // Heroku's habit: a trailing -a APP is run's when no app came before the command.
    const heroku = await cluster.cli(['run', '--no-tty', 'echo', '-n', 'hi', '-a', 'tools']);
    assert.equal(heroku.code, 0, heroku.stderr);
    assert.equal(heroku.stdout, 'hi');
  });

  it('shows a running one-off in ps, and stops it when the CLI goes away', async () => {
    const run = startRun(['--', 'echo started; sleep 100000']);
    await waitFor('the one-off to start', () => run.out().includes('started'), 15_000);
    const running = await cluster.waitForPs('tools', 'the one-off in ps', (l) => l.some((i) => i.type === 'run' && i.state === 'up'));
    const oneOff = running.find((i) => i.type === 'run')!;
    assert.match(oneOff.command, /sleep 100000/);
    run.child.kill('SIGKILL'); // the CLI disappears without a word
    await waitFor('the remote process to be stopped', () => isGone(oneOff.pid!), 15_000);
    await cluster.waitForPs('tools', 'the one-off gone from ps', (l) => !l.some((i) => i.name === oneOff.name));
  });

  it('interrupts the remote process on Ctrl-C', async () => {
    const run = startRun(['--', "trap 'echo interrupted; exit 5' INT; echo ready; while true; do sleep 0.1; done"]);
    await waitFor('ready', () => run.out().includes('ready'), 15_000);
    run.child.kill('SIGINT');
    assert.equal(await run.exited, 5);
    assert.match(run.out(), /interrupted/);
  });

  it('gives a program that handles Ctrl-C time to clean up, and exits with its status', async () => {
    // Several words: run through sh, which once died of the SIGINT at once (status 130) and had
    // the program killed with it, its clean-up cut short.
    const program = "process.on('SIGINT', () => setTimeout(() => { console.log('cleaned up'); process.exit(42); }, 300)); console.log('ready'); setInterval(() => {}, 1000)";
    const run = startRun(['--no-tty', '--', 'node', '-e', program]);
    await waitFor('ready', () => run.out().includes('ready'), 15_000);
    run.child.kill('SIGINT');
    assert.equal(await run.exited, 42);
    assert.match(run.out(), /cleaned up/);
    // A program killed by the Ctrl-C: 128 + SIGINT, as before.
    const sleeper = startRun(['--no-tty', '--', 'echo ready; sleep 100000']);
    await waitFor('ready', () => sleeper.out().includes('ready'), 15_000);
    sleeper.child.kill('SIGINT');
    assert.equal(await sleeper.exited, 130);
  });

  it('starts a detached one-off whose output goes to the logs', async () => {
    const marker = path.join(cluster.dir, 'detached-ran');
    const res = await cluster.cli(['run', '--detach', '-a', 'tools', '--', `echo detached output; touch ${marker}`]);
    assert.equal(res.code, 0, res.stderr);
    const name = /Started (run\.\d+)/.exec(res.stdout)![1]!;
    await waitFor('the detached process to run', () => fs.existsSync(marker), 15_000);
    await waitFor('its output in the logs', async () =>
      (await cluster.cli(['logs', '-a', 'tools', '--ps', name, '-n', '10'])).stdout.includes('detached output'));
  });

  it('lists a one-off stopping on request as `stopping` for its grace, then no more', async () => {
    const res = await cluster.cli(['run', '--detach', '-a', 'tools', '--', 'trap "" TERM; while true; do sleep 1; done']);
    assert.equal(res.code, 0, res.stderr);
    const name = /Started (run\.\d+)/.exec(res.stdout)![1]!;
    await cluster.waitForPs('tools', `${name} up`, (l) => l.some((i) => i.name === name && i.state === 'up'));
    await cluster.ok(['ps:stop', name, '-a', 'tools']);
    // It ignores SIGTERM: SIGKILL comes 5 s later, and meanwhile it is stopping, not up.
    const stopping = await cluster.waitForPs('tools', `${name} stopping`, (l) => l.some((i) => i.name === name && i.state === 'stopping'), 4_000);
    assert.match(stopping.find((i) => i.name === name)!.reason, /stopping on request/);
    await cluster.waitForPs('tools', `${name} gone`, (l) => !l.some((i) => i.name === name), 20_000);
  });

  it('sends no late SIGKILL to the group id of a one-off stopped on request: by then it may be a new group\'s', async (t) => {
    const res = await cluster.cli(['run', '--detach', '-a', 'tools', '--', 'sleep 100000']);
    assert.equal(res.code, 0, res.stderr);
    const name = /Started (run\.\d+)/.exec(res.stdout)![1]!;
    const listed = await cluster.waitForPs('tools', `${name} running`, (l) => l.some((i) => i.name === name && i.pid));
    const pid = listed.find((i) => i.name === name)!.pid!;
    const stoppedAt = Date.now();
    await cluster.ok(['ps:stop', name, '-a', 'tools']);
    await waitFor(`${name}'s process gone`, () => isGone(pid), 15_000);
    // Its group id goes to a new group at once, as pid wrap-around can do on a busy server.
    const reused = await groupLeaderWithPid(pid, Date.now() + 3_000);
    if (!reused) return t.skip(`could not get pid ${pid} back (no root, or other processes took it first)`);
    // Only a group that exists before the agent's SIGKILL timer would fire tells anything.
    if (Date.now() - stoppedAt > 4_000) {
      reused.kill('SIGKILL');
      return t.skip(`pid ${pid} was had back only ${Date.now() - stoppedAt} ms after the stop`);
    }
    try {
      // A stop sends SIGTERM, then SIGKILL 5 s later unless the run ended: past that, the new group must live on.
      const until = Date.now() + 6_500;
      while (Date.now() < until) {
        assert.equal(isGone(reused.pid!), false, `the new group with id ${pid} was killed ${Math.round((6_500 - (until - Date.now())) / 100) / 10} s after it started`);
        await sleep(100);
      }
    } finally {
      reused.kill('SIGKILL');
    }
  });

  it('refuses an app without code and an empty command', async () => {
    await cluster.ok(['apps:create', 'empty']);
    const res = await cluster.cli(['run', '-a', 'empty', '--', 'true']);
    assert.equal(res.code, 1);
    assert.match(res.stderr, /^error: app `empty` has no release deployed yet: deploy its code with `cluster deploy DIR -a empty`/);
    // `ps:restart` of the whole app says the same (it once restarted "0 instances", exit 0).
    const restart = await cluster.cli(['ps:restart', '-a', 'empty']);
    assert.equal(restart.code, 1, restart.stdout);
    assert.match(restart.stderr, /^error: app `empty` has no release deployed yet: deploy its code with `cluster deploy DIR -a empty`/);
    const none = await cluster.cli(['run', '-a', 'tools', '--', ' ']);
    assert.equal(none.code, 1);
  });

  it('names an app that does not exist before packing and uploading anything', async () => {
    const dir = cluster.appDir('nowhere', { Procfile: 'worker: sleep 100000\n' });
    const res = await cluster.cli(['deploy', dir, '-a', 'nope']);
    assert.equal(res.code, 1);
    assert.match(res.stderr, /^error: app `nope` not found/);
    assert.doesNotMatch(res.stderr, /Packed|Uploading/);
  });

  it('ends quietly, and stops the process, when its reader goes away (`cluster run … | head`)', async () => {
    const marker = `yes pipe-closed-${process.pid}`;
    const child = spawn(process.execPath, [CLI, 'run', '-a', 'tools', '--no-tty', '--', marker], { env: env(), stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    // The first output, then the reader closes its end, as `head` does.
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    child.stdout.destroy();
    assert.equal(await exited, 141, stderr);
    assert.doesNotMatch(stderr, /EPIPE|at /, 'no stack trace');
    await waitFor('the remote process stopped', () => pidsMatching(marker).length === 0, 15_000, 100);
  });

  it('goes to a host with a free port, not to the least busy one whose instances hold every port', async () => {
    // Two ports: its capacity is lowered to 2, and two workers fill them.
    cluster.startAgent({ id: 'host-c', ports: 2 });
    await cluster.waitForAgents(3);
    await cluster.ok(['scale', 'worker=8', '-a', 'tools', '--wait']);
    const perHost = (await cluster.ps('tools')).reduce((m, i) => m.set(i.host ?? '-', (m.get(i.host ?? '-') ?? 0) + 1), new Map<string, number>());
    assert.deepEqual([...perHost].sort(), [['host-a', 3], ['host-b', 3], ['host-c', 2]], 'host-c runs the fewest, and is full');
    for (let i = 0; i < 2; i++) {
      const res = await cluster.cli(['run', '-a', 'tools', '--no-tty', '--', 'echo "$(basename "$CLUSTER_AGENT_DIR") $PORT"']);
      assert.equal(res.code, 0, res.stderr);
      assert.match(res.stdout.trim(), /^host-[ab] \d+$/);
    }
    // The only ready agent full: it is picked all the same, and its refusal is the run's answer.
    for (const id of ['host-a', 'host-b']) await cluster.ok(['agents:drain', id]);
    const refused = await cluster.cli(['run', '-a', 'tools', '--no-tty', '--', 'true']);
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, /the one-off process on host-c failed: could not start: no free port in \d+-\d+: 2 handed out to instances and one-off processes/);
    for (const id of ['host-a', 'host-b']) await cluster.ok(['agents:activate', id]);
    await cluster.ok(['scale', 'worker=0', '-a', 'tools', '--wait']);
    const stopped = await cluster.cli(['agent', 'stop', '--stop-instances', '--data-dir', cluster.agentDir('host-c')]);
    assert.equal(stopped.code, 0, stopped.stderr);
    await cluster.waitForAgents(2);
  });

  it('places a burst of detached runs where a port is free: one-offs running hold ports too', async () => {
    // First by name, two ports, and no instances: the least busy host on paper while its one-offs fill it.
    cluster.startAgent({ id: 'host-0', ports: 2 });
    await cluster.waitForAgents(3);
    const names: string[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        const res = await cluster.cli(['run', '--detach', '-a', 'tools', '--', 'sleep 60']);
        assert.equal(res.code, 0, res.stderr);
        names.push(/Started (run\.\d+)/.exec(res.stdout)![1]!);
      }
      const ps = await cluster.waitForPs('tools', 'the three runs up', (p) => names.every((n) => p.some((i) => i.name === n && i.state === 'up')), 20_000);
      const hosts = names.map((n) => ps.find((i) => i.name === n)!.host);
      assert.ok(hosts.filter((h) => h === 'host-0').length <= 2, `host-0 runs at most its two ports' worth: ${hosts.join(', ')}`);
    } finally {
      // Whatever happened, the next case finds host-a and host-b alone, running nothing.
      for (const name of names) await cluster.cli(['ps:kill', name, '-a', 'tools']);
      const stopped = await cluster.cli(['agent', 'stop', '--stop-instances', '--data-dir', cluster.agentDir('host-0')]);
      assert.equal(stopped.code, 0, stopped.stderr);
      await cluster.waitForAgents(2);
    }
  });

  /** What `cluster agents --json` says host-a and host-b run of one-offs. */
  const oneOffsPerAgent = async () => {
    const { agents } = await cluster.cliJson<{ agents: Array<{ id: string; oneOffs: number }> }>(['agents']);
    return ['host-a', 'host-b'].map((id) => agents.find((a) => a.id === id)?.oneOffs);
  };

  it('spreads one-offs over idle hosts, and goes back to the first once they have ended', async () => {
    const started: Array<{ name: string; host: string }> = [];
    try {
      for (let i = 0; i < 2; i++) {
        const res = await cluster.cli(['run', '--detach', '-a', 'tools', '--', 'sleep 60']);
        assert.equal(res.code, 0, res.stderr);
        const [, name, host] = /Started (run\.\d+) on (\S+);/.exec(res.stdout) ?? [];
        assert.ok(name && host, res.stdout);
        started.push({ name, host });
        // Counted once its host has reported it (what ps lists): the next pick sees it.
        await cluster.waitForPs('tools', `${name} listed`, (l) => l.some((x) => x.name === name), 20_000);
      }
      assert.deepEqual(started.map((r) => r.host).sort(), ['host-a', 'host-b'], 'one on each idle host');
      // `cluster agents` counts them apart from instances, once each host has reported its own.
      await waitFor('each host listed with one one-off', async () => (await oneOffsPerAgent()).every((n) => n === 1), 20_000, 200);
      assert.match((await cluster.ok(['agents'])).stdout, /^ID +ADDRESS .* INSTANCES +ONE-OFFS +CAPACITY /m);
    } finally {
      for (const { name } of started) await cluster.cli(['ps:kill', name, '-a', 'tools']);
    }
    await cluster.waitForPs('tools', 'the runs gone', (l) => !l.some((x) => started.some((r) => r.name === x.name)), 20_000);
    await waitFor('no one-off counted on any host', async () => (await oneOffsPerAgent()).every((n) => n === 0), 20_000, 200);
    const res = await cluster.cli(['run', '-a', 'tools', '--no-tty', '--', 'basename "$CLUSTER_AGENT_DIR"']);
    assert.equal(res.code, 0, res.stderr);
    assert.equal(res.stdout.trim(), 'host-a', 'nothing runs anywhere: the tie goes to the first host again');
  });

  it('exits 3 saying the run was lost when its agent dies while it runs (kill -9)', async () => {
    const run = startRun(['--no-tty', '--', 'echo started; sleep 100123']);
    let stderr = '';
    run.child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    await waitFor('the run started', () => run.out().includes('started') || undefined, 30_000, 50);
    const host = /as run\.\d+ on (host-[ab])/.exec(stderr)?.[1];
    assert.ok(host, stderr);
    const name = /as (run\.\d+) on/.exec(stderr)![1]!;
    process.kill(cluster.agents.get(host)!.pid, 'SIGKILL');
    assert.equal(await run.exited, 3, stderr);
    assert.match(stderr, new RegExp(`error: ${host} was lost while ${name.replace('.', '\\.')} ran \\(.+\\): its exit is unknown; \`cluster ps\` shows whether it still runs\n$`));
    await cluster.agents.get(host)!.exited;
    cluster.restartAgent(host);
    await cluster.waitForAgent(host);
    await waitFor('the run stopped (its agent\'s next run stops a one-off it did not start)', () => pidsMatching('sleep 100123').length === 0 || undefined, 30_000, 200);
    // Gone from ps too: the next test's picks count each host's one-offs from what ps shows.
    await cluster.waitForPs('tools', `${name} gone from ps`, (l) => !l.some((i) => i.name === name), 30_000);
  });

  it('goes to another host when the one picked cannot be reached (killed, still registered)', async () => {
    // Which host the next run goes to: the same one as this one (no instance of anyone runs, so
    // the picks tie and the first host wins while both are ready).
    const where = async () => {
      const res = await cluster.cli(['run', '-a', 'tools', '--no-tty', '--', 'echo "$CLUSTER_AGENT_DIR"']);
      assert.equal(res.code, 0, res.stderr);
      return path.basename(res.stdout.trim());
    };
    const picked = await where();
    assert.equal(await where(), picked, 'the pick is the same while nothing changes');
    const other = picked === 'host-a' ? 'host-b' : 'host-a';
    process.kill(cluster.agents.get(picked)!.pid, 'SIGKILL');
    await cluster.agents.get(picked)!.exited;
    // Its registration lives until its lease (4 s) runs out: the run is sent there first, reaches
    // nothing, and goes to the other host instead of failing with "No connection established".
    assert.equal(await where(), other);
  });
});
