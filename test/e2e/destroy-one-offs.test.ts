/**
 * `apps:destroy` and one-off processes: destroying an app stops its one-offs (a detached run, an
 * attached `cluster run`, a release command still running) as `ps:stop` would, and nothing of the
 * old app shows under a new app of the same name; the new app's release commands run, although
 * their names (release.N) are the old app's again.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { CLI, TestCluster, pidsMatching } from '../helpers/test-cluster';
import { waitFor } from '../helpers/wait-for';

describe('apps:destroy and one-off processes', { timeout: 120_000 }, () => {
  let cluster: TestCluster;

  before(async () => {
    cluster = await TestCluster.start({ agents: [{ id: 'host-a' }] });
  });

  after(async () => {
    await cluster?.stop();
  });

  it('stops a detached run, an attached run and a running release command; a re-created app lists none of them', async () => {
    // Markers of this file's own processes (pidsMatching reads /proc: what really runs).
    const [detached, attached, release] = ['sleep 30101', 'sleep 30102', 'sleep 30103'];
    await cluster.ok(['apps:create', 'comp']);
    const v1 = await cluster.cli(['deploy', cluster.appDir('comp-v1', { Procfile: 'release: true\n' }), '-a', 'comp', '--wait']);
    assert.equal(v1.code, 0, v1.stderr);
    await cluster.ok(['run', '--detach', '-a', 'comp', '--', detached]);
    const run = spawn(process.execPath, [CLI, 'run', '--no-tty', '-a', 'comp', '--', `echo attached; ${attached}`], {
      env: { ...process.env, CLUSTER_SERVER: cluster.server, CLUSTER_HOME: path.join(cluster.dir, 'home') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => run.once('exit', (code) => resolve(code)));
    // v2's release command runs (and holds v2 back) until it is stopped.
    const v2 = await cluster.cli(['deploy', cluster.appDir('comp-v2', { Procfile: `release: ${release}\n` }), '-a', 'comp']);
    assert.equal(v2.code, 0, v2.stderr);
    await waitFor('the three one-offs to run', () => [detached, attached, release].every((m) => pidsMatching(m).length > 0), 30_000);

    await cluster.ok(['apps:destroy', 'comp', '--confirm', 'comp']);
    await waitFor('every one-off of the destroyed app to be gone', () => {
      const left = [detached, attached, release].filter((m) => pidsMatching(m).length > 0);
      return left.length === 0 || undefined;
    }, { timeoutMs: 10_000, describe: () => `still running: ${[detached, attached, release].filter((m) => pidsMatching(m).length > 0).join(', ')}` });
    // The attached CLI ends with its process's status: killed by SIGTERM.
    assert.equal(await exited, 143);

    await cluster.ok(['apps:create', 'comp']);
    assert.deepEqual((await cluster.ps('comp')).map((i) => i.name), [], 'nothing of the old app under the new one');
  });

  it('runs the release command of an app created again after its namesake was destroyed during its own', async () => {
    const old = 'sleep 30104';
    await cluster.ok(['apps:create', 'again']);
    const v1 = await cluster.cli(['deploy', cluster.appDir('again-old', { Procfile: `release: echo old release ran; ${old}\n` }), '-a', 'again']);
    assert.equal(v1.code, 0, v1.stderr);
    await waitFor('the old release.1 to run', () => pidsMatching(old).length > 0, 30_000);
    await cluster.ok(['apps:destroy', 'again', '--confirm', 'again']);
    await cluster.ok(['apps:create', 'again']);
    // Its release.1 again, on the same agent: it must run, and fail.
    const res = await cluster.cli(['deploy', cluster.appDir('again-new', { Procfile: 'release: echo new release ran; exit 5\n' }), '-a', 'again', '--wait'], { timeoutMs: 60_000 });
    assert.equal(res.code, 1, res.stdout + res.stderr);
    assert.match(res.stderr, /the release command of v1 failed: exited with status 5/);
    const logs = await waitFor('the new release command\'s output in logs', async () => {
      const out = (await cluster.cli(['logs', '-a', 'again', '--ps', 'release.1', '-n', '100'])).stdout;
      return /new release ran/.test(out) ? out : undefined;
    }, 20_000);
    assert.match(logs, /Process exited with status 5/);
    assert.deepEqual(pidsMatching(old), [], 'the old release command was stopped');
  });
});
