/**
 * A Heroku user's habits, as Heroku's docs write them, through the real CLI: the first deploy
 * scales web=1; ps TYPE, ps:scale (none, TYPE+N, TYPE-N), ps:restart, ps:stop, ps:kill,
 * run:detached, logs -p/-d/-s/-f in Heroku's line format, releases:info, releases -n, config -s,
 * apps:destroy -a.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { CLI, TestCluster } from '../helpers/test-cluster';
import { isGone, listening } from '../helpers/processes';
import { waitFor } from '../helpers/wait-for';

const APP = 'shop';
const LOOP = 'while true; do echo "tick $DYNO"; sleep 0.5; done\n';
const TIME = '\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z';

describe('Heroku CLI names and flags', { timeout: 240_000 }, () => {
  let cluster: TestCluster;
  let deployOutput = '';

  const pidOf = async (name: string) => (await cluster.ps(APP)).find((i) => i.name === name)?.pid;
  const formation = async () => (await cluster.ok(['ps:scale', '-a', APP])).stdout.trim();
  const lines = (out: string) => out.split('\n').filter(Boolean);
  const logs = async (...args: string[]) => lines((await cluster.ok(['logs', '-a', APP, ...args])).stdout);

  before(async () => {
    cluster = await TestCluster.start({ agents: [{ id: 'host-a' }] });
    const dir = cluster.appDir(APP, { Procfile: 'web: sh web.sh\nworker: sh loop.sh\n', 'loop.sh': LOOP,
      // A web is up once it accepts connections on $PORT (docs/boot-checks.md).
      'web.sh': `${listening('sh loop.sh')}\n` });
    await cluster.ok(['apps:create', APP]);
    deployOutput = (await cluster.ok(['deploy', dir, '-a', APP])).stdout;
  });

  after(async () => {
    await cluster?.stop();
  });

  it('scales web=1 on the first deploy, says so, and ps:scale with no arguments prints the formation', async () => {
    assert.match(deployOutput, /^Released v1 of shop .*: web, worker\nScaled shop to web=1 \(its first deploy\)/);
    await cluster.waitForPs(APP, 'web.1 up', (l) => l.length === 1 && l[0]!.name === 'web.1' && l[0]!.state === 'up');
    assert.equal(await formation(), 'web=1 worker=0');
    const json = await cluster.cliJson<{ formation: Record<string, number> }>(['ps:scale', '-a', APP]);
    assert.deepEqual(json.formation, { web: 1, worker: 0 });
  });

  it('ps:scale TYPE+N and TYPE-N change the current count; two concurrent worker+1 give +2', async () => {
    assert.equal((await cluster.ok(['ps:scale', 'worker+2', '-a', APP])).stdout, 'Scaled shop to worker=2.\n');
    const both = await Promise.all([1, 2].map(() => cluster.cli(['ps:scale', 'worker+1', '-a', APP])));
    for (const res of both) assert.equal(res.code, 0, res.stderr);
    assert.equal(await formation(), 'web=1 worker=4');
    await cluster.ok(['ps:scale', 'worker-1', 'web=1', '-a', APP]);
    assert.equal(await formation(), 'web=1 worker=3');
    await cluster.waitForPs(APP, 'web.1 and 3 workers up', (l) => l.length === 4 && l.every((i) => i.state === 'up'), 30_000);
  });

  it('refuses bad scale changes and unknown instances with one sentence, changing nothing', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['ps:scale', 'worker+abc'], /^error: worker\+abc: the change after `\+` must be a whole number/],
      [['ps:scale', 'worker-5'], /^error: worker-5: `worker` has 3 instances; it cannot go below 0$/],
      [['ps:scale', 'clock+1'], /`clock` is not in release v1/],
      [['ps:stop', 'worker.9'], /^error: `shop` has no instance worker\.9: it runs worker\.1 to worker\.3/],
      [['ps:kill', 'clock.1'], /`clock` is not a process type of `shop` \(it has: web, worker\)$/],
      [['ps:restart', 'wrk'], /^error: `wrk` is not a process type or instance of `shop` \(it has: web, worker\)$/],
      [['ps:scale', 'worker=-1'], /^error: worker=-1: an instance count cannot be below 0; `worker=0` stops them all, `worker-1` removes 1$/],
      [['ps:stop', 'run.999'], /no one-off process run\.999 of `shop` is running/],
      [['ps:stop', 'worker'], /`worker` is not an instance.*ps:restart worker/],
      [['ps', 'nope'], /`nope` is not a process type of shop \(it has: web, worker\)/],
      [['logs', '-s', 'dyno'], /--source dyno: give app .* or system/],
      [['logs', '-p', 'worker', '-d', 'worker.1'], /give only one of -p/],
      [['releases:info', 'v9'], /^error: shop has no release v9 \(it has only v1\)$/],
      [['rollback', 'v9'], /^error: shop has no release v9 \(it has only v1\)$/],
    ];
    for (const [args, message] of cases) {
      const res = await cluster.cli([...args, '-a', APP]);
      assert.equal(res.code, 1, `${args.join(' ')}: ${res.stderr}`);
      assert.match(res.stderr.trim(), message);
      assert.equal(lines(res.stderr).length, 1, 'one sentence');
      assert.equal(res.stdout, '');
    }
    assert.equal(await formation(), 'web=1 worker=3');
  });

  it('ps TYPE lists only that type', async () => {
    const table = lines((await cluster.ok(['ps', 'worker', '-a', APP])).stdout);
    assert.deepEqual(table.slice(1).map((l) => l.split(/\s+/)[0]), ['worker.1', 'worker.2', 'worker.3']);
    const json = await cluster.cliJson<{ instances: Array<{ name: string }> }>(['ps', 'web', '-a', APP]);
    assert.deepEqual(json.instances.map((i) => i.name), ['web.1']);
  });

  it('ps:restart TYPE restarts that type only', async () => {
    const before = await cluster.ps(APP);
    const web = before.find((i) => i.name === 'web.1')!.pid;
    assert.match((await cluster.ok(['ps:restart', 'worker', '-a', APP])).stdout, /Restarting worker of shop \(3 instances\)/);
    await cluster.waitForPs(APP, 'every worker restarted', (l) =>
      l.filter((i) => i.type === 'worker' && i.state === 'up' && !before.some((b) => b.name === i.name && b.pid === i.pid)).length === 3, 30_000);
    assert.equal(await pidOf('web.1'), web, 'web.1 was left alone');
  });

  it('ps:stop TYPE.N replaces the instance; ps:kill TYPE.N kills it and it starts again', async () => {
    const stopped = (await pidOf('worker.2'))!;
    const other = await pidOf('worker.1');
    assert.match((await cluster.ok(['ps:stop', 'worker.2', '-a', APP])).stdout, /^Stopping worker\.2 of shop on host-a; it is replaced/);
    await cluster.waitForPs(APP, 'worker.2 replaced', (l) => l.some((i) => i.name === 'worker.2' && i.state === 'up' && i.pid !== stopped));
    assert.ok(isGone(stopped), 'the old process is gone');
    assert.equal(await pidOf('worker.1'), other);

    const killed = (await pidOf('worker.3'))!;
    assert.match((await cluster.ok(['ps:kill', 'worker.3', '-a', APP])).stdout, /^Killed worker\.3 of shop on host-a \(SIGKILL\)/);
    await cluster.waitForPs(APP, 'worker.3 up again', (l) => l.some((i) => i.name === 'worker.3' && i.state === 'up' && i.pid !== killed));
    assert.ok(isGone(killed));
    const lifecycle = await waitFor('the kill in the logs', async () => {
      const found = await logs('-d', 'worker.3', '-s', 'system', '-n', '50');
      return found.some((l) => l.includes('killed by SIGKILL')) ? found : undefined;
    }, 15_000, 200);
    assert.ok(lifecycle.some((l) => new RegExp(`^${TIME} cluster\\[worker\\.3\\]: Killing process \\(SIGKILL\\) on request$`).test(l)), lifecycle.join('\n'));
  });

  it('run:detached starts a one-off; ps:stop ends it, ps:kill kills one that ignores SIGTERM', async () => {
    const started = await cluster.ok(['run:detached', '-a', APP, '--', 'echo detached hi; sleep 100000']);
    const name = /^Started (run\.\d+) on host-a/.exec(started.stdout)?.[1];
    assert.ok(name, started.stdout);
    const running = await cluster.waitForPs(APP, `${name} up`, (l) => l.some((i) => i.name === name && i.state === 'up'));
    const pid = running.find((i) => i.name === name)!.pid!;
    await waitFor('its output under -d', async () => (await logs('-d', name, '-n', '10')).some((l) => new RegExp(`^${TIME} app\\[${name.replace('.', '\\.')}\\]: detached hi$`).test(l)), 15_000, 200);
    assert.match((await cluster.ok(['ps:stop', name, '-a', APP])).stdout, new RegExp(`^Stopping ${name.replace('.', '\\.')} of shop on host-a\\.`));
    await waitFor('the one-off to end', () => isGone(pid), 15_000);
    await cluster.waitForPs(APP, `${name} gone from ps`, (l) => !l.some((i) => i.name === name));

    // `trap '' TERM` is inherited by sleep: only SIGKILL ends this one.
    const stubborn = /^Started (run\.\d+)/.exec((await cluster.ok(['run:detached', '-a', APP, '--', "trap '' TERM; sleep 100000"])).stdout)![1]!;
    const list = await cluster.waitForPs(APP, `${stubborn} up`, (l) => l.some((i) => i.name === stubborn && i.state === 'up'));
    const stubbornPid = list.find((i) => i.name === stubborn)!.pid!;
    assert.match((await cluster.ok(['ps:kill', stubborn, '-a', APP])).stdout, /^Killed run\.\d+ of shop on host-a\./);
    await waitFor('the stubborn one-off to be killed', () => isGone(stubbornPid), 15_000);
    const exit = await waitFor('its exit in the logs', async () => {
      const found = await logs('-d', stubborn, '-s', 'system', '-n', '20');
      return found.find((l) => l.includes('Process exited'));
    }, 15_000, 200);
    assert.match(exit, /cluster\[run\.\d+\]: Process exited with status 137 \(SIGKILL\)$/);
  });

  it('logs: Heroku line format, -p, -d, -s app|system, --show-host, --json, -f', async () => {
    const workers = await logs('-p', 'worker', '-n', '200');
    assert.ok(workers.length > 0);
    // worker.4 ran for a moment (worker+1 twice, then worker-1): its lines are history too.
    for (const l of workers) assert.match(l, new RegExp(`^${TIME} (app|cluster)\\[worker\\.\\d+\\]: `));
    assert.ok(workers.some((l) => / app\[worker\.\d+\]: tick worker\.\d+$/.test(l)), 'the output of the workers is among them');

    const output = await waitFor('5 lines of web.1 output', async () => {
      const found = await logs('-d', 'web.1', '-s', 'app', '-n', '5');
      return found.length === 5 ? found : undefined;
    }, 15_000, 200);
    for (const l of output) assert.match(l, new RegExp(`^${TIME} app\\[web\\.1\\]: tick web\\.1$`));

    const system = await logs('-d', 'web.1', '-s', 'heroku', '-n', '1000');
    assert.ok(system.some((l) => /cluster\[web\.1\]: Starting process with command `sh web\.sh`$/.test(l)), system.join('\n'));
    assert.ok(system.every((l) => / cluster\[web\.1\]: /.test(l)));

    const hosted = await logs('-d', 'web.1', '-n', '3', '--show-host');
    for (const l of hosted) assert.match(l, new RegExp(`^${TIME} (app|cluster)\\[web\\.1\\] host-a: `));
    const json = (await logs('-d', 'web.1', '-s', 'app', '-n', '1', '--json')).map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual({ ...json[0], time: undefined }, { time: undefined, app: APP, instance: 'web.1', host: 'host-a', stream: 'stdout', source: 'app', line: 'tick web.1' });

    const follower = spawn(process.execPath, [CLI, 'logs', '-a', APP, '-d', 'web.1', '-s', 'app', '-n', '0', '-f'], {
      env: { ...process.env, CLUSTER_SERVER: cluster.server, CLUSTER_HOME: path.join(cluster.dir, 'home'), NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let live = '';
    follower.stdout.on('data', (d: Buffer) => (live += d.toString()));
    try {
      await waitFor('a live line with -f', () => /app\[web\.1\]: tick web\.1\n/.test(live), 15_000);
    } finally {
      follower.kill('SIGINT');
    }
  });

  it('releases:info vN shows one release', async () => {
    const info = (await cluster.ok(['releases:info', 'v1', '-a', APP])).stdout;
    assert.match(info, /^=== Release v1 of shop \(newest, running\)\nChange: +Deploy [0-9a-f]{7}\n/);
    assert.match(info, /\nweb +sh web\.sh\nworker +sh loop\.sh\n$/);
    await cluster.ok(['config:set', 'A=1', '-a', APP]);
    assert.match((await cluster.ok(['releases:info', '-a', APP])).stdout, /^=== Release v2 of shop \(newest, running\)\nChange: +Set A\n/);
    const v1 = await cluster.cliJson<{ version: number; current: boolean }>(['releases:info', '1', '-a', APP]);
    assert.deepEqual([v1.version, v1.current], [1, false]);
  });

  it('releases -n N lists the newest N (Heroku\'s --num)', async () => {
    const versions = async (...args: string[]) =>
      (await cluster.cliJson<{ releases: Array<{ version: number }> }>(['releases', ...args, '-a', APP])).releases.map((r) => r.version);
    assert.deepEqual(await versions(), [2, 1]);
    assert.deepEqual(await versions('-n', '1'), [2]);
    assert.deepEqual(await versions('--num', '9'), [2, 1]);
    const table = await cluster.ok(['releases', '-n', '1', '-a', APP]);
    assert.deepEqual(table.stdout.trimEnd().split('\n').map((line) => line.split(/ +/)[0]), ['VERSION', 'v2']);
    for (const bad of ['0', 'two', '-1']) {
      const res = await cluster.cli(['releases', '-n', bad, '-a', APP]);
      assert.equal(res.code, 1, `-n ${bad}: ${res.stdout}`);
      assert.match(res.stderr, /^error: --num \S+: give a whole number above 0\n$/);
    }
  });

  it('config -s prints assignments for a shell; config shows a multi-line value as a JSON string', async () => {
    await cluster.ok(['config:set', 'MULTI=line1\nline2', "QUOTE=it's", '-a', APP]);
    for (const flag of ['-s', '--shell']) {
      const shell = await cluster.ok(['config', flag, '-a', APP]);
      assert.equal(shell.stdout, "A=1\nMULTI='line1\nline2'\nQUOTE='it'\\''s'\n", flag);
    }
    assert.equal((await cluster.ok(['config', '-a', APP])).stdout, 'A:     1\nMULTI: "line1\\nline2"\nQUOTE: it\'s\n');
    const refused = await cluster.cli(['config', '-s', '--json', '-a', APP]);
    assert.deepEqual([refused.code, refused.stderr, refused.stdout], [1, 'error: give --json or --shell, not both\n', '']);
  });

  it('apps:destroy -a APP --confirm APP', async () => {
    await cluster.ok(['apps:create', 'scratch']);
    const unconfirmed = await cluster.cli(['apps:destroy', '-a', 'scratch']);
    assert.equal(unconfirmed.code, 1);
    assert.match(unconfirmed.stderr, /confirm with --confirm scratch/);
    const mixed = await cluster.cli(['apps:destroy', 'scratch', '-a', APP, '--confirm', 'scratch']);
    assert.equal(mixed.code, 1);
    assert.match(mixed.stderr, /two apps named/);
    const mismatched = await cluster.cli(['apps:destroy', 'scratch', '--confirm', 'scratc']);
    assert.deepEqual([mismatched.code, mismatched.stderr], [1, 'error: --confirm scratc does not match `scratch`: nothing was destroyed; confirm with --confirm scratch\n']);
    assert.equal((await cluster.ok(['apps:destroy', '-a', 'scratch', '--confirm', 'scratch'])).stdout, 'Destroyed scratch.\n');
    // Gone: destroying it again is not told to create it first.
    const again = await cluster.cli(['apps:destroy', 'scratch', '--confirm', 'scratch']);
    assert.deepEqual([again.code, again.stderr], [1, 'error: app `scratch` not found: nothing to destroy (`cluster apps` lists the apps)\n']);
    const apps = await cluster.cliJson<{ apps: Array<{ name: string }> }>(['apps']);
    assert.deepEqual(apps.apps.map((a) => a.name), [APP]);
  });
});
