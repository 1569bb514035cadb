/**
 * `cluster ps:stop release.N` of a release command (docs/boot-checks.md#release-phase): its release
 * fails with a reason that says it was stopped, and the release running before stays live, also
 * when the command exits 0 on SIGTERM. A stop that reaches the agent while it still fetches the
 * release's code (a leader giving the claim up, `apps:destroy`, `cluster ps:stop release.N`) means the command never starts;
 * so does an attached `cluster run` whose caller leaves meanwhile. A run whose code cannot be
 * fetched fails at once, naming why.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { callUnary } from '../../lib/grpc-call';
import { agentProto } from '../../proto/load';
import { CLI, TestCluster } from '../helpers/test-cluster';
import { type PsWithRelease, type ReleaseRow, WEB } from '../helpers/release-apps';
import type { TcpProxy } from '../helpers/tcp-proxy';
import { clusterWithHeldAgent } from '../helpers/held-agent-cluster';
import { waitFor } from '../helpers/wait-for';

describe('a stopped release command', { timeout: 120_000 }, () => {
  let cluster: TestCluster;
  const deploy = (name: string, release: string, extra: string[] = []) => {
    const dir = cluster.appDir(`api-${name}`, { Procfile: `web: ${WEB}\nrelease: ${release}\n` });
    return cluster.cli(['deploy', dir, '-a', 'api', ...extra], { timeoutMs: 90_000 });
  };
  const releases = async () => (await cluster.cliJson<{ releases: ReleaseRow[] }>(['releases', '-a', 'api'])).releases;
  const web = async () => ((await cluster.ps('api')) as PsWithRelease[]).find((i) => i.name === 'web.1')!;

  /** host-a's way to the control plane: holding it holds the slugs it fetches. */
  let proxy: TcpProxy;

  before(async () => {
    ({ cluster, proxy } = await clusterWithHeldAgent());
    await cluster.ok(['apps:create', 'api']);
    const res = await deploy('v1', 'true', ['--wait']);
    assert.equal(res.code, 0, res.stderr);
    await cluster.ok(['scale', 'web=1', '-a', 'api', '--wait']);
  });

  after(async () => {
    proxy?.release();
    await cluster?.stop();
    await proxy?.close();
  });

  for (const [how, command] of [
    ['exits 0 on SIGTERM', `trap 'echo interrupted; exit 0' TERM; while true; do sleep 0.1; done`],
    ['dies of SIGTERM', 'while true; do sleep 0.1; done'],
  ] as const) {
    it(`fails its release when stopped, also a command that ${how}, and the running release stays live`, async () => {
      const live = (await web()).release;
      const waiting = deploy(how.replace(/\W+/g, '-'), command, ['--wait']);
      const version = await waitFor('the release command running', async () => {
        const [newest] = await releases();
        return newest!.phase === 'running' && ((await cluster.ps('api')) as PsWithRelease[]).some((i) => i.name === `release.${newest!.version}` && i.state === 'up') ? newest!.version : undefined;
      }, 30_000);
      const stop = await cluster.cli(['ps:stop', `release.${version}`, '-a', 'api']);
      assert.equal(stop.code, 0, stop.stdout + stop.stderr);
      const res = await waiting;
      assert.equal(res.code, 1, res.stdout + res.stderr);
      assert.match(res.stderr, new RegExp(`the release command of v${version} failed: stopped on request \\(\`cluster ps:stop\` or \`ps:kill\`\\)`));
      const [stopped] = await releases();
      assert.deepEqual([stopped!.version, stopped!.phase, stopped!.deployed], [version, 'failed', false]);
      assert.match(stopped!.phaseReason!, /^stopped on request \(`cluster ps:stop` or `ps:kill`\): (exited with status 0|killed by SIGTERM \(status 143\))$/);
      assert.equal((await web()).release, live, `web.1 stays on v${live}`);
    });
  }

  // What a leader that gives the claim up sends (as does `apps:destroy`), and what a user types
  // (the agent does not report the command yet: the control plane asks the agent it sent it to).
  for (const via of ['StopRun', 'ps:stop'] as const) it(`never starts a release command whose stop (${via}) reached the agent while it fetched the code`, async () => {
    const marker = path.join(cluster.dir, `stopped-while-fetching-${via}`);
    const slugs = path.join(cluster.agentDir('host-a'), 'slugs');
    const fetching = () => fs.readdirSync(slugs).some((f) => f.startsWith('.fetch-'));
    const agent = await waitFor('host-a\'s address', async () => (await cluster.cliJson<{ agents: Array<{ id: string; address: string }> }>(['agents'])).agents.find((a) => a.id === 'host-a')?.address, 10_000);
    const runs = new (agentProto().AgentRun)(agent, grpc.credentials.createInsecure());
    let version: number;
    proxy.hold();
    try {
      await cluster.deployProcfile('api', `web: ${WEB}\nrelease: echo ran > ${marker}; sleep 30\n`, { 'fresh.txt': `${Date.now()}` });
      version = (await releases())[0]!.version;
      await waitFor('host-a fetching the new release\'s code', () => fetching() || undefined, 20_000, 20);
      if (via === 'StopRun') {
        const reply = await callUnary(runs, 'StopRun', { app: 'api', instance: `release.${version}`, reason: 'given up' }, 5_000);
        assert.equal(reply.found, true, 'the agent has the run, launching');
      } else {
        const stop = await cluster.cli(['ps:stop', `release.${version}`, '-a', 'api']);
        assert.equal(stop.code, 0, stop.stdout + stop.stderr);
        assert.match(stop.stdout, new RegExp(`^Stopping release\\.${version} of api on host-a\\.`));
      }
    } finally {
      proxy.release();
      runs.close();
    }
    const stopped = await waitFor(`v${version} settled`, async () => (await releases()).find((r) => r.version === version && r.phase !== 'running'), 30_000);
    assert.deepEqual([stopped.phase, stopped.deployed], ['failed', false]);
    assert.match(stopped.phaseReason ?? '', /stopped on request before it started, while its code was being fetched/);
    await waitFor('host-a done fetching', () => !fetching() || undefined, 20_000);
    const logs = await cluster.ok(['logs', '-a', 'api', '--ps', `release.${version}`]);
    assert.match(logs.stdout, /Not started: stopped on request before it started/);
    assert.doesNotMatch(logs.stdout, /Starting release command/);
    assert.equal(fs.existsSync(marker), false, 'the command never ran');
  });

  it('never starts an attached run whose caller left while the agent fetched the code', async () => {
    const marker = path.join(cluster.dir, 'caller-left-while-fetching');
    const slugs = path.join(cluster.agentDir('host-a'), 'slugs');
    const fetching = () => fs.readdirSync(slugs).some((f) => f.startsWith('.fetch-'));
    proxy.hold();
    try {
      // Live at once (no release command): a run gets its code, which host-a has yet to fetch.
      await cluster.deployProcfile('api', `web: ${WEB}\n`, { 'fresh.txt': `${Date.now()}` });
      const run = spawn(process.execPath, [CLI, 'run', '-a', 'api', '--no-tty', '--', 'sh', '-c', `echo ran > ${marker}; sleep 30`], { env: cluster.env, stdio: 'ignore' });
      const exited = new Promise((resolve) => run.once('exit', resolve));
      await waitFor('host-a fetching the code for the run', () => fetching() || undefined, 20_000, 20);
      run.kill('SIGTERM');
      await exited;
      // The control plane passes the cancel on to the agent: its run is stopped, launching.
      const agentLog = cluster.agents.get('host-a')!.log;
      await waitFor('the run not started on host-a', () => fs.readFileSync(agentLog, 'utf8').split('\n')
        .some((l) => /"instance":"run\.\d+"/.test(l) && l.includes('its starting call was cancelled')) || undefined, 20_000, 50);
    } finally {
      proxy.release();
    }
    await waitFor('host-a done fetching', () => !fetching() || undefined, 20_000);
    await cluster.waitForPs('api', 'web.1 up on the new release', (ps) => ps.some((i) => i.name === 'web.1' && i.state === 'up'), 30_000);
    const logs = await cluster.ok(['logs', '-a', 'api', '-p', 'run']);
    assert.match(logs.stdout, /Not started: its starting call was cancelled/);
    assert.doesNotMatch(logs.stdout, /Starting one-off process/);
    assert.equal(fs.existsSync(marker), false, 'the command never ran');
  });

  it('fails a run whose code cannot be fetched at once, saying why, rather than leaving it waiting', async () => {
    await cluster.scale('api', { web: 0 }); // nothing fetches the next release's code before the run
    await cluster.deployProcfile('api', `web: ${WEB}\n`, { 'fresh.txt': `${Date.now()}` });
    // The new slug is on the control plane only: gone from there, no replica can serve it.
    const onAgent = new Set(fs.readdirSync(path.join(cluster.agentDir('host-a'), 'slugs')));
    const stored = path.join(cluster.controlPlaneDataDir(), 'slugs');
    const gone = fs.readdirSync(stored).filter((f) => f.endsWith('.tgz') && !onAgent.has(f.slice(0, -'.tgz'.length)));
    assert.equal(gone.length, 1, `one slug only the control plane has: ${gone.join(', ')}`);
    fs.rmSync(path.join(stored, gone[0]!));
    // Before, the agent's failure never reached the caller: an attached run waited for ever.
    const res = await cluster.cli(['run', '-a', 'api', '--no-tty', '--', 'echo', 'hi'], { timeoutMs: 60_000 });
    assert.equal(res.code, 1, res.stdout + res.stderr);
    assert.match(res.stderr, /^error: the one-off process on host-a failed: could not start: fetching slug [0-9a-f]{12} failed: /);
    assert.ok(res.ms < 30_000, `failed after ${Math.round(res.ms)} ms`);
  });
});
