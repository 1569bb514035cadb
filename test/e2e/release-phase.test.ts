/**
 * The release phase (docs/boot-checks.md#release-phase): a Procfile's `release:` command runs once
 * per release as `release.N`, before anything rolls; when it fails (status, timeout) the release is
 * marked failed, nothing rolls and `deploy --wait` exits 1.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TestCluster } from '../helpers/test-cluster';
import { type PsWithRelease, RELEASE_SH, type ReleaseRow, WEB } from '../helpers/release-apps';
import { waitFor } from '../helpers/wait-for';

describe('release phase', { timeout: 120_000 }, () => {
  let cluster: TestCluster;
  let gates: string;
  const deploy = (name: string, release: string, extra: string[] = [], moreTypes = '') => {
    const dir = cluster.appDir(`api-${name}`, { Procfile: `web: ${WEB}\nrelease: ${release}\n${moreTypes}`, 'release.sh': RELEASE_SH });
    return cluster.cli(['deploy', dir, '-a', 'api', ...extra], { timeoutMs: 90_000 });
  };
  const releases = async () => (await cluster.cliJson<{ releases: ReleaseRow[] }>(['releases', '-a', 'api'])).releases;
  const web = async () => ((await cluster.ps('api')) as PsWithRelease[]).find((i) => i.name === 'web.1')!;
  const logs = async (ps: string) => (await cluster.cli(['logs', '-a', 'api', '--ps', ps, '-n', '100'])).stdout;

  before(async () => {
    cluster = await TestCluster.start({ agents: [{ id: 'host-a' }, { id: 'host-b' }] });
    gates = path.join(cluster.dir, 'gates');
    fs.mkdirSync(gates);
    await cluster.ok(['apps:create', 'api']);
  });

  after(async () => {
    await cluster?.stop();
  });

  it('runs the release command once before the first rollout, its output in logs as release.N', async () => {
    const res = await deploy('v1', 'sh release.sh', ['--wait']);
    assert.equal(res.code, 0, res.stderr);
    const [v1] = await releases();
    assert.deepEqual([v1!.version, v1!.phase, v1!.deployed], [1, 'succeeded', true]);
    await waitFor('release.1 output in logs', async () => /app\[release\.1\]: migrating to v1/.test(await logs('release.1')), 20_000);
    await cluster.ok(['scale', 'web=1', '-a', 'api', '--wait']);
    const scale = await cluster.cli(['scale', 'release=1', '-a', 'api']);
    assert.equal(scale.code, 1);
    assert.match(scale.stderr, /`release` is the release phase command/);
    // The types an unknown one is told apart from are those that scale: not the release command.
    const unknown = await cluster.cli(['scale', 'clock=1', '-a', 'api']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /^error: process type `clock` is not in release v1 of `api` \(it has: web\)\n$/);
    const ps = await cluster.cli(['ps', 'clock', '-a', 'api']);
    assert.equal(ps.code, 1);
    assert.match(ps.stderr, /^error: `clock` is not a process type of api \(it has: web\)\n$/);
  });

  it('rolls nothing while the release command runs, and rolls once it passes', async () => {
    const gate = path.join(gates, 'v2');
    const before = await web();
    const waiting = deploy('v2', `sh release.sh ${gate}`, ['--wait']);
    await waitFor('release.2 running', async () => (await releases())[0]?.phase === 'running' || undefined, 30_000);
    await waitFor('release.2 output in logs', async () => /migrating to v2/.test(await logs('release.2')), 20_000);
    // ps shows it as the one-off it is (it was `stopping (no longer assigned)`).
    const running = ((await cluster.ps('api')) as PsWithRelease[]).find((i) => i.name === 'release.2');
    assert.deepEqual([running?.type, running?.state, running?.release], ['release', 'up', 2], JSON.stringify(running));
    for (let i = 0; i < 5; i++) {
      const now = await web();
      assert.deepEqual([now.release, now.pid, now.state], [1, before.pid, 'up'], 'web.1 stays on v1 meanwhile');
    }
    fs.writeFileSync(gate, '');
    const res = await waiting;
    assert.equal(res.code, 0, res.stderr);
    assert.equal((await web()).release, 2);
  });

  it('marks a failing release failed, rolls nothing, and deploy --wait exits 1 with its status', async () => {
    const before = await web();
    const res = await deploy('v3', 'sh release.sh "" 3', ['--wait'], 'extra: sleep 1000\n');
    assert.equal(res.code, 1, res.stdout + res.stderr);
    assert.match(res.stderr, /the release command of v3 failed: exited with status 3; nothing rolled/);
    const [v3, v2] = await releases();
    assert.deepEqual([v3!.version, v3!.phase, v3!.phaseReason, v3!.deployed], [3, 'failed', 'exited with status 3', false]);
    // releases:info marks them as `releases` does: v3 the newest, v2 the one running.
    const info3 = (await cluster.ok(['releases:info', '-a', 'api'])).stdout;
    assert.match(info3, /^=== Release v3 of api \(newest\)\n/);
    // It says why v3 is not the one running, and where its output is.
    assert.match(info3, /^Release phase: failed: exited with status 3 \(`cluster logs -a api --ps release\.3`\)$/m);
    const json3 = await cluster.cliJson<{ phase: string | null; phaseReason: string | null }>(['releases:info', 'v3', '-a', 'api']);
    assert.deepEqual([json3.phase, json3.phaseReason], ['failed', 'exited with status 3']);
    assert.match((await cluster.ok(['releases:info', 'v2', '-a', 'api'])).stdout, /^=== Release v2 of api \(running\)\n/);
    assert.deepEqual(await cluster.cliJson(['releases:info', 'v2', '-a', 'api']).then((r) => [(r as { current: boolean }).current, (r as { running: boolean }).running]), [false, true]);
    assert.equal(v2!.deployed, true, 'v2 is still the running release');
    const now = await web();
    assert.deepEqual([now.release, now.pid], [2, before.pid], 'web.1 untouched');
    // A type only in the failed release runs nowhere: scaling, restarting or stopping it is refused.
    for (const args of [['scale', 'extra=1'], ['ps:restart', 'extra'], ['ps:stop', 'extra.1']]) {
      const refused = await cluster.cli([...args, '-a', 'api']);
      assert.equal(refused.code, 1, `${args.join(' ')}: ${refused.stdout}`);
      assert.match(refused.stderr, /process type `extra` is only in v3 of `api`, which is not deployed: its release command failed \(exited with status 3\); v2 runs/);
    }
    // A one-off runs what the instances run, not the failed release.
    const oneOff = await cluster.cli(['run', '--no-tty', '-a', 'api', '--', 'sh', '-c', 'echo "on $CLUSTER_RELEASE"']);
    assert.equal(oneOff.code, 0, oneOff.stderr);
    assert.match(oneOff.stdout, /^on v2$/m);
    const { formation } = await cluster.cliJson<{ formation: Record<string, number> }>(['scale', '-a', 'api']);
    assert.equal(Object.hasOwn(formation, 'extra'), false, `no count stored for it: ${JSON.stringify(formation)}`);
  });

  it('an app whose first release command failed: deploy, scale and ps say so, with the count kept for it', async () => {
    const dir = cluster.appDir('first-fails', { Procfile: 'release: exit 3\nweb: sleep 100000\n' });
    await cluster.ok(['apps:create', 'first-fails']);
    const res = await cluster.cli(['deploy', dir, '-a', 'first-fails', '--wait']);
    assert.equal(res.code, 1, res.stdout + res.stderr);
    // web=1 is set at once, but nothing starts before a release command passes.
    assert.match(res.stdout, /^Scaled first-fails to web=1 \(its first deploy\), which starts once a release command succeeds; change it with/m);
    const scale = await cluster.ok(['scale', '-a', 'first-fails']);
    assert.equal(scale.stdout, 'web=1 (kept for it) — first-fails runs no release yet: v1\'s release phase failed: exited with status 3 (`cluster releases:info v1 -a first-fails`).\n');
    // Its code was deployed: ps does not say to deploy it, but why it does not run and where the output is.
    const failed = 'first-fails runs no release yet: v1\'s release phase failed: exited with status 3 (its output: `cluster logs --ps release.1 -a first-fails`); deploy again (or set config) to try again.\n';
    assert.equal((await cluster.ok(['ps', '-a', 'first-fails'])).stdout, failed);
    assert.equal((await cluster.ok(['ps', 'web', '-a', 'first-fails'])).stdout, failed);
    await cluster.ok(['apps:destroy', 'first-fails', '--confirm', 'first-fails']);
  });

  it('stops a release command that outlives --release-timeout, and refuses a bad timeout', async () => {
    const res = await deploy('v4', `sh release.sh ${path.join(gates, 'never')}`, ['--wait', '--release-timeout', '2']);
    assert.equal(res.code, 1, res.stdout + res.stderr);
    assert.match(res.stderr, /the release command of v4 failed: took longer than its 2 s timeout/);
    assert.equal((await web()).release, 2);
    const bad = await deploy('v5', 'sh release.sh', ['--release-timeout', 'soon']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /--release-timeout soon: expected whole seconds/);
    assert.equal((await releases())[0]!.version, 4, 'nothing deployed');
  });

  it('ps:stop of a release command that hangs ends it: the release fails, the one before stays', async () => {
    const waiting = deploy('stopped', `sh release.sh ${path.join(gates, 'never')}`, ['--wait']);
    await waitFor('its release running', async () => (await releases())[0]?.phase === 'running' || undefined, 30_000);
    const [{ version }] = (await releases()) as [ReleaseRow];
    const stop = await cluster.cli(['ps:stop', `release.${version}`, '-a', 'api']);
    assert.equal(stop.code, 0, stop.stdout + stop.stderr);
    const res = await waiting;
    assert.equal(res.code, 1, res.stdout + res.stderr);
    assert.match(res.stderr, new RegExp(`the release command of v${version} failed`));
    const [stopped] = await releases();
    assert.deepEqual([stopped!.version, stopped!.phase, stopped!.deployed], [version, 'failed', false]);
    assert.equal((await web()).release, 2, 'web.1 stays on v2');
    await waitFor('release.N gone from ps', async () => !((await cluster.ps('api')) as PsWithRelease[]).some((i) => i.name === `release.${version}`) || undefined, 15_000);
  });

  it('never starts a release command a second time after its agent restarted', async () => {
    const count = path.join(cluster.dir, 'release-starts');
    const gate = path.join(gates, 'after-restart');
    const waiting = deploy('restart', `echo started >> ${count}; sh release.sh ${gate}`, ['--wait']);
    const starts = () => (fs.existsSync(count) ? fs.readFileSync(count, 'utf8').split('\n').filter(Boolean).length : 0);
    await waitFor('the release command started', () => starts() === 1 || undefined, 30_000);
    await waitFor('its release running', async () => (await releases())[0]?.phase === 'running' || undefined, 10_000);
    // Both agents die and come back: the one that ran it forgot it (and stopped it).
    for (const id of ['host-a', 'host-b']) {
      await cluster.agents.get(id)!.kill('SIGKILL');
      cluster.startAgent({ id });
    }
    await cluster.waitForAgents(2);
    const res = await waiting;
    assert.equal(res.code, 1, res.stdout + res.stderr);
    assert.equal(starts(), 1, 'a migration runs once, never again behind the operator\'s back');
    assert.match(res.stderr, /the release command of v\d+ failed: host-[ab] no longer knows it \(the agent restarted\); it was not started again/);
  });

  it('rolls back to a release whose release command failed, warning that its command does not run', async () => {
    const res = await cluster.cli(['rollback', 'v3', '-a', 'api']);
    assert.equal(res.code, 0, res.stdout + res.stderr);
    assert.match(res.stderr, /^warning: the release command of v3 failed \(exited with status 3\); a rollback does not run it/m);
    assert.match(res.stdout, /^Rollback to v3: released v\d+ of api/m);
    const back = await cluster.cli(['rollback', 'v2', '-a', 'api']);
    assert.equal(back.code, 0, back.stdout + back.stderr);
    assert.doesNotMatch(back.stderr, /warning/, 'v2\'s release command passed');
  });
});
