/**
 * Config vars and releases as Heroku users know them: config:set makes a release and
 * restarts instances rolling, the new value is visible inside the processes, rollback
 * restores code and config.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CLI, TestCluster, type PsInstance } from '../helpers/test-cluster';
import { waitFor } from '../helpers/wait-for';
import { listening } from '../helpers/processes';

// Each instance writes its environment to a file named after it, then idles; it takes
// 0.4 s to stop, so a rolling restart can be watched from outside.
const DUMP = (version: string) => `trap 'sleep 0.4; exit 0' TERM
printf '%s' "${version}|$GREETING|$CLUSTER_RELEASE" > "$1/$CLUSTER_INSTANCE"
while true; do sleep 1 & wait $!; done
`;

describe('config and releases', { timeout: 240_000 }, () => {
  let cluster: TestCluster;
  let out: string;

  const seen = (instance: string) => {
    try {
      return fs.readFileSync(path.join(out, instance), 'utf8');
    } catch {
      return '';
    }
  };
  const deploy = async (version: string) => {
    const dir = cluster.appDir(`greeter-${version}`, {
      Procfile: `web: ${listening(`sh dump.sh ${out}`)}\nworker: sh dump.sh ${out}\n`,
      'dump.sh': DUMP(version),
    });
    await cluster.ok(['deploy', dir, '-a', 'greeter']);
  };

  before(async () => {
    cluster = await TestCluster.start({ agents: [{ id: 'host-a' }, { id: 'host-b' }] });
    out = path.join(cluster.dir, 'env-dumps');
    fs.mkdirSync(out);
    await cluster.ok(['apps:create', 'greeter']);
    await deploy('code-1');
    await cluster.ok(['scale', 'web=2', 'worker=8', '-a', 'greeter', '--wait']);
  });

  after(async () => {
    await cluster?.stop();
  });

  it('sets values with =, spaces and newlines, and never prints them in release descriptions', async () => {
    const value = 'hello = world\nsecond line';
    const res = await cluster.cli(['config:set', `GREETING=${value}`, 'OTHER=x', '-a', 'greeter']);
    assert.equal(res.code, 0, res.stderr);
    const config = await cluster.cliJson<{ config: Record<string, string> }>(['config', '-a', 'greeter']);
    assert.deepEqual(config.config, { GREETING: value, OTHER: 'x' });
    const get = await cluster.cli(['config:get', 'GREETING', '-a', 'greeter']);
    assert.equal(get.stdout, `${value}\n`);
    // A key named like a member of every JavaScript object is just another key.
    const inherited = await cluster.cli(['config:get', 'constructor', '-a', 'greeter']);
    assert.equal(inherited.code, 1, inherited.stdout);
    assert.match(inherited.stderr, /constructor is not set on greeter/);
    const { releases } = await cluster.cliJson<{ releases: Array<{ version: number; description: string }> }>(['releases', '-a', 'greeter']);
    assert.equal(releases[0]!.version, 2);
    assert.equal(releases[0]!.description, 'Set GREETING, OTHER');
    const logs = fs.readdirSync(cluster.dir).filter((f) => f.endsWith('.log')).map((f) => fs.readFileSync(path.join(cluster.dir, f), 'utf8')).join('');
    assert.ok(!logs.includes('hello = world'), 'the value is not in any daemon log');
  });

  it('restarts every instance rolling: never more than the bound down, and the new value is visible inside', async (t) => {
    // A new release while sampling ps: at most 1 web and 2 (a quarter of 8) workers may be down at once.
    let worstWeb = 0;
    let worstWorker = 0;
    // The sample where the most web instances were down, for the message.
    let worstWebSample = '';
    const down = (list: PsInstance[], type: string) => list.filter((i) => i.type === type && i.state !== 'up').length;
    const setting = cluster.cli(['config:set', 'GREETING=rolled', '-a', 'greeter', '--wait']);
    let finished = false;
    // A failed config:set ends the sampling too; the await below reports it.
    setting.finally(() => (finished = true)).catch(() => undefined);
    while (!finished) {
      const list = await cluster.ps('greeter');
      if (down(list, 'web') > worstWeb) {
        worstWebSample = list.filter((i) => i.type === 'web').map((i) => `${i.name} ${i.state} v${i.release} on ${i.host} pid ${i.pid}${i.reason ? ` (${i.reason})` : ''}`).join('; ');
      }
      worstWeb = Math.max(worstWeb, down(list, 'web'));
      worstWorker = Math.max(worstWorker, down(list, 'worker'));
    }
    const res = await setting;
    assert.equal(res.code, 0, res.stderr);
    t.diagnostic(`rolling config change: at most ${worstWeb} web and ${worstWorker} workers down at once`);
    assert.ok(worstWeb <= 1, `${worstWeb} web instances down at once: ${worstWebSample}`);
    assert.ok(worstWorker <= 2, `${worstWorker} workers down at once`);
    assert.ok(worstWorker >= 1, 'the sampling saw the rollout happen');
    for (const name of ['web.1', 'web.2', ...Array.from({ length: 8 }, (_, i) => `worker.${i + 1}`)]) {
      await waitFor(`${name} to see the new value`, () => seen(name) === 'code-1|rolled|v3');
    }
  });

  it('refuses PORT, identity variables and malformed keys', async () => {
    for (const [arg, message] of [['PORT=1', /PORT/], ['DYNO=x', /DYNO/], ['CLUSTER_APP=x', /CLUSTER_APP/], ['CLUSTER_JOB=x', /names starting with CLUSTER_ are the platform's/], ['1BAD=x', /invalid config key/], ['=x', /KEY=VALUE/]] as const) {
      const res = await cluster.cli(['config:set', arg, '-a', 'greeter']);
      assert.equal(res.code, 1, arg);
      assert.match(res.stderr, message);
    }
  });

  it('rolls back to an earlier release: its code and its config', async () => {
    await deploy('code-2');
    await cluster.ok(['config:set', 'GREETING=newest', '-a', 'greeter', '--wait']);
    await waitFor('web.1 on code-2', () => seen('web.1') === 'code-2|newest|v5');
    const res = await cluster.cli(['rollback', 'v3', '-a', 'greeter', '--wait']);
    assert.equal(res.code, 0, res.stderr);
    for (const name of ['web.1', 'worker.8']) await waitFor(`${name} back on code-1`, () => seen(name) === 'code-1|rolled|v6');
    const { releases } = await cluster.cliJson<{ releases: Array<{ version: number; description: string }> }>(['releases', '-a', 'greeter']);
    assert.deepEqual(releases.slice(0, 2).map((r) => r.description), ['Rollback to v3', 'Set GREETING']);
    const config = await cluster.cliJson<{ config: Record<string, string> }>(['config', '-a', 'greeter']);
    assert.equal(config.config.GREETING, 'rolled');
    // `V99` is read as v99 (and refused by the control plane: no such release), as `99` is.
    const bad = await cluster.cli(['rollback', 'V99', '-a', 'greeter']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /v99/);
    // Past 32 bits the number would wrap around to 0, "the previous release".
    const huge = await cluster.cli(['rollback', 'v4294967297', '-a', 'greeter']);
    assert.equal(huge.code, 1, huge.stdout);
    assert.match(huge.stderr, /v4294967297: expected a release like v7 \(at most v2147483647\)/);
  });

  it('an app with no code yet: ps, ps TYPE and rollback say so and to deploy; config:set and per-type settings work, config:set says nothing restarts, and its release is not running', async () => {
    await cluster.ok(['apps:create', 'fresh']);
    const deploy = 'app `fresh` has no release deployed yet: deploy its code with `cluster deploy DIR -a fresh`';
    const psSaysSo = async () => assert.equal((await cluster.ok(['ps', '-a', 'fresh'])).stdout, `${deploy}.\n`);
    const noRollback = async (args: string[]) => {
      const rollback = await cluster.cli([...args, '-a', 'fresh']);
      assert.deepEqual([rollback.code, rollback.stderr], [1, `error: nothing to roll back to: ${deploy}\n`]);
    };
    await Promise.all([
      psSaysSo(),
      cluster.cli(['ps', 'web', '-a', 'fresh']).then((ps) => assert.deepEqual([ps.code, ps.stderr], [1, `error: \`web\` is not a process type of fresh: ${deploy}\n`])),
      noRollback(['rollback']),
    ]);
    // As on Heroku, config can be set before the first deploy; the deploy gets it.
    const set = await cluster.ok(['config:set', 'GREETING=early', '-a', 'fresh', '--wait']);
    assert.equal(set.stdout, `Set GREETING: released v1 of fresh; its first deploy runs with this config (${deploy}).\n`);
    // Its release has config, no code (slug null in JSON, - in the table), and nothing runs it.
    await Promise.all([
      psSaysSo(),
      noRollback(['rollback', 'v1']),
      cluster.cliJson<{ releases: Array<{ version: number; slug: string | null; deployed: boolean }> }>(['releases', '-a', 'fresh'])
        .then((listed) => assert.deepEqual(listed.releases.map((r) => [r.version, r.slug, r.deployed]), [[1, null, false]])),
      cluster.cliJson<{ slug: string | null; running: boolean }>(['releases:info', '-a', 'fresh']).then((info) => assert.deepEqual([info.slug, info.running], [null, false])),
      cluster.ok(['releases', '-a', 'fresh']).then((table) => assert.match(table.stdout, /^v1 +Set GREETING +.+ ago +- +-$/m)),
    ]);
    // Per-type settings may be set ahead of the first deploy too (docs/boot-checks.md).
    const boot = await cluster.ok(['ps:boot-timeout', 'web=120', '-a', 'fresh']);
    assert.equal(boot.stdout, 'Boot timeouts of fresh: web=120s. They apply from the next start.\n');
    await cluster.ok(['deploy', cluster.appDir('fresh', { Procfile: 'worker: sleep 1000\n' }), '-a', 'fresh']);
    // Then a type must be in the newest release, but what was set ahead for one it lacks can be cleared.
    const grace = await cluster.cli(['ps:grace', 'web=5', '-a', 'fresh']);
    assert.deepEqual([grace.code, grace.stderr], [1, 'error: process type `web` is not in release v2 of `fresh` (it has: worker)\n']);
    const cleared = await cluster.ok(['ps:boot-timeout', 'web=60', '-a', 'fresh']);
    assert.equal(cleared.stdout, 'Boot timeouts of fresh: web=60s (default). They apply from the next start.\n');
    assert.deepEqual((await cluster.cliJson<{ config: Record<string, string> }>(['config', '-a', 'fresh'])).config, { GREETING: 'early' });
    assert.equal((await cluster.ok(['ps', '-a', 'fresh'])).stdout, 'fresh runs nothing. Scale it up with `cluster scale TYPE=N -a fresh`.\n');
    await cluster.ok(['apps:destroy', 'fresh', '--confirm', 'fresh']);
  });

  it('unsets a key that is not set harmlessly: no release, a note, exit 0; with others, one release for those that are', async () => {
    const releases = async () => (await cluster.cliJson<{ releases: Array<{ version: number; description: string }> }>(['releases', '-a', 'greeter'])).releases;
    const before = await releases();
    const none = await cluster.cli(['config:unset', 'NOPE', 'NADA', '-a', 'greeter']);
    assert.equal(none.code, 0, none.stderr);
    assert.equal(none.stdout, `NOPE, NADA were not set on greeter: nothing to change, it stays at v${before[0]!.version}.\n`);
    assert.deepEqual(await releases(), before);

    await cluster.ok(['config:set', 'DOOMED=1', '-a', 'greeter']);
    const some = await cluster.cli(['config:unset', 'NOPE', 'DOOMED', '-a', 'greeter']);
    assert.equal(some.code, 0, some.stderr);
    const version = before[0]!.version + 2;
    assert.equal(some.stdout, `NOPE was not set on greeter: left alone.\nUnset DOOMED: released v${version} of greeter; instances restart a few at a time.\n`);
    const after = await releases();
    assert.deepEqual(after.slice(0, 2).map((r) => [r.version, r.description]), [[version, 'Unset DOOMED'], [version - 1, 'Set DOOMED']]);
    assert.equal(after.length, before.length + 2, 'one release for the set, one for the unset');
    const config = await cluster.cliJson<{ config: Record<string, string> }>(['config', '-a', 'greeter']);
    assert.equal(Object.hasOwn(config.config, 'DOOMED'), false);
  });

  it('takes --timeout with --wait, as scale does; a bad one is refused before anything changes', async () => {
    const releases = async () => (await cluster.cliJson<{ releases: unknown[] }>(['releases', '-a', 'greeter'])).releases.length;
    const before = await releases();
    for (const args of [['config:set', 'TIMED=1'], ['config:unset', 'GREETING'], ['rollback']]) {
      const res = await cluster.cli([...args, '-a', 'greeter', '--wait', '--timeout', 'soon']);
      assert.equal(res.code, 1, `${args[0]}: ${res.stderr}`);
      assert.match(res.stderr, /^error: --timeout soon: give seconds \(300\) or a duration \(30s, 5m, 1h\)/);
    }
    assert.equal(await releases(), before, 'no release made');
    const res = await cluster.cli(['config:set', 'TIMED=1', '-a', 'greeter', '--wait', '--timeout', '2m']);
    assert.equal(res.code, 0, res.stderr);
    await cluster.ok(['config:unset', 'TIMED', '-a', 'greeter', '--wait', '--timeout', '120']);
  });

  it('a config change made while another rolls out ends the first one\'s --wait, exit 1, naming the newer release', async () => {
    const { releases } = await cluster.cliJson<{ releases: Array<{ version: number }> }>(['releases', '-a', 'greeter']);
    const next = Math.max(...releases.map((r) => r.version)) + 1;
    const started = Date.now();
    const first = cluster.cli(['config:set', 'FIRST=1', '-a', 'greeter', '--wait'], { timeoutMs: 120_000 });
    // 8 workers roll a quarter at a time, each up after 2 s: seconds in which the second comes.
    await cluster.waitForPs('greeter', `an instance on v${next}`, (ps) => ps.some((i) => i.release === next), 30_000);
    await cluster.ok(['config:set', 'SECOND=1', '-a', 'greeter']);
    const res = await first;
    assert.equal(res.code, 1, res.stderr);
    assert.match(res.stderr, new RegExp(`error: v${next} will not finish rolling out: v${next + 1} was made meanwhile and rolls out instead`));
    assert.ok(Date.now() - started < 60_000, `the first --wait ended ${Date.now() - started} ms after it started, not at its timeout`);
    await cluster.waitForPs('greeter', `every instance up on v${next + 1}`, (ps) => ps.length === 10 && ps.every((i) => i.state === 'up' && i.release === next + 1), 90_000);
    await cluster.ok(['config:unset', 'FIRST', 'SECOND', '-a', 'greeter', '--wait']);
  });

  it('ends quietly, exit 0, when its reader goes away (`config:get BIG | head -c 10`)', async () => {
    await cluster.ok(['config:set', `BIG=${'x'.repeat(100 * 1024)}`, '-a', 'greeter']);
    // A reader that takes 10 bytes and leaves, as `head -c 10` does.
    const child = spawn(process.execPath, [CLI, 'config:get', 'BIG', '-a', 'greeter'], { env: cluster.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.once('data', () => child.stdout.destroy());
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    assert.equal(stderr, '', 'no stack, no message');
    assert.equal(code, 0);
    await cluster.ok(['config:unset', 'BIG', '-a', 'greeter']);
  });
});
