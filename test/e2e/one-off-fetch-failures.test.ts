/**
 * A one-off whose agent loses the control plane while it fetches the run's code. A fetch cut by
 * the network (the agent's connections reset) is fetched again, and the run starts. A control
 * plane killed (kill -9) and started again meanwhile: the scheduled run it started runs once the
 * next one asks again, or is recorded `not-started` with why. Before, the agent gave the fetch
 * up at once and recorded the run as an exit 127, which the next leader recorded as the run's
 * `failed (exit 127)`: the command never ran, and nothing in the app's log said so.
 * The fetch is made slow by holding what the control plane sends the agent.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CLI, TestCluster } from '../helpers/test-cluster';
import type { TcpProxy } from '../helpers/tcp-proxy';
import { heldAgentApp, type HeldAgentApp } from '../helpers/held-agent-cluster';
import { waitFor } from '../helpers/wait-for';

interface RunJson {
  instance: string | null;
  state: string;
  exitStatus: number | null;
  reason: string | null;
}
interface JobJson {
  running: RunJson[];
  history: RunJson[];
}

describe('a one-off whose code fetch loses the control plane', { timeout: 180_000 }, () => {
  let app: HeldAgentApp;
  let cluster: TestCluster;
  /** host-a's way to the control plane: holding it holds the slugs it fetches. */
  let proxy: TcpProxy;
  const fetching = () => app.fetching();
  /** Holds host-a's slugs and deploys new code (live at once), which host-a fetches for the next run. */
  const holdNewCode = () => app.holdNewCode();

  before(async () => {
    app = await heldAgentApp();
    ({ cluster, proxy } = app);
  });

  after(async () => {
    await app?.stop();
  });

  it('fetches the code again when the connection it came through is cut, and the run starts', async () => {
    let run: Promise<{ code: number | null; stdout: string; stderr: string }> | undefined;
    try {
      await holdNewCode();
      const child = spawn(process.execPath, [CLI, 'run', '-a', 'api', '--no-tty', '--', 'echo', 'fetched again'], { env: cluster.env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      run = new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
      await waitFor('host-a fetching the code for the run', () => fetching() || undefined, 20_000, 20);
      // host-a's connections to the control plane reset: the fetch fails (UNAVAILABLE). The
      // control plane's call to host-a, which waits for the run, goes on.
      proxy.cut();
    } finally {
      proxy.release();
    }
    const res = await run;
    assert.equal(res.code, 0, res.stdout + res.stderr);
    assert.equal(res.stdout, 'fetched again\n');
    const name = /as (run\.\d+) on host-a/.exec(res.stderr)?.[1];
    assert.ok(name, res.stderr);
    const logs = await cluster.ok(['logs', '-a', 'api', '--ps', name]);
    assert.doesNotMatch(logs.stdout, /Not started/);
    assert.match(fs.readFileSync(cluster.agents.get('host-a')!.log, 'utf8'), /fetching a one-off's code failed for want of a control plane; trying again/);
  });

  it('runs a scheduled run once after its control plane was killed (kill -9) while the code was fetched, never records it as an exit 127', async () => {
    const marker = path.join(cluster.dir, 'ran-bj');
    await cluster.ok(['schedule:add', '@yearly', '-a', 'api', '--name', 'bj', '--', `echo ran >> ${marker}`]);
    let instance: string | undefined;
    try {
      await holdNewCode();
      // It does not start while its code is held: the CLI may say so (exit 1). The job's state names the run.
      await cluster.cli(['schedule:run', 'bj', '-a', 'api']);
      await waitFor('host-a fetching the code for the run', () => fetching() || undefined, 20_000, 20);
      const claimed = await waitFor('the run in the job\'s state', async () => (await cluster.cliJson<JobJson>(['schedule', 'bj', '-a', 'api'])).running[0]?.instance, 15_000, 100);
      instance = claimed;
      await cluster.controlPlane!.kill('SIGKILL');
      // What the dead control plane sent and host-a has not read yet is lost with the connections,
      // as on a reset (a small slug would otherwise arrive whole from the proxy's buffers).
      proxy.cut();
    } finally {
      proxy.release();
    }
    await cluster.startControlPlane();
    const done = await waitFor(`${instance} finished`, async () => {
      const job = await cluster.cliJson<JobJson>(['schedule', 'bj', '-a', 'api']);
      return job.history.find((r) => r.instance === instance);
    }, 90_000, 300);
    assert.notEqual(done.state, 'failed', `never an exit made up for a run that did not start: ${JSON.stringify(done)}`);
    if (done.state === 'succeeded') {
      assert.equal(fs.readFileSync(marker, 'utf8'), 'ran\n', 'ran exactly once');
    } else {
      // The next leader asked after the run's starting deadline: the agent says it never started, and why.
      assert.equal(done.state, 'not-started', JSON.stringify(done));
      assert.match(done.reason ?? '', /host-a did not start it: .+/);
      assert.equal(fs.existsSync(marker), false, 'the command never ran');
    }
    await cluster.ok(['schedule:remove', 'bj', '-a', 'api']);
  });
});
