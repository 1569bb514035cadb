/**
 * A one-off (`cluster run`, attached or detached) whose agent still fetches the release's code:
 * `cluster ps` lists it, `starting` on its host and saying it fetches its code (as Heroku shows
 * run.N `starting`), and `cluster ps:stop` / `ps:kill` of it ends it before it starts, the
 * `cluster run` that waits for it exiting 1 with why. Before, nothing listed it while the code
 * was fetched and a stop answered `no one-off process run.N is running`, the command starting a
 * moment later. The fetch is made slow by holding what the control plane sends the agent.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { PsInstance } from '../helpers/ps-instances';
import { CLI, TestCluster } from '../helpers/test-cluster';
import type { TcpProxy } from '../helpers/tcp-proxy';
import { heldAgentApp, type HeldAgentApp } from '../helpers/held-agent-cluster';
import { waitFor } from '../helpers/wait-for';

interface Exited {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe('a one-off whose code is being fetched', { timeout: 150_000 }, () => {
  let app: HeldAgentApp;
  let cluster: TestCluster;
  /** host-a's way to the control plane: holding it holds the slugs it fetches (its own requests go through). */
  let proxy: TcpProxy;
  const fetching = () => app.fetching();
  const runOf = async (name: string) => (await cluster.ps('api')).find((i) => i.name === name);

  /** `cluster run -a api ARGS…` in the background, with what it printed once it exits. */
  const startRun = (args: string[]) => {
    const child = spawn(process.execPath, [CLI, 'run', '-a', 'api', ...args], { env: cluster.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<Exited>((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
    return { child, exited };
  };

  /** Holds host-a's slugs, deploys new code (live at once: no release command) and has host-a fetch it for a run. */
  const runWhileFetching = async (args: string[]) => {
    await app.holdNewCode();
    const run = startRun(args);
    await waitFor('host-a fetching the code for the run', () => fetching() || undefined, 20_000, 20);
    return run;
  };

  /** The name the next run gets: one more than a run started now (the app's counter). */
  const nextRunName = async () => {
    const res = await cluster.cli(['run', '-a', 'api', '--no-tty', '--', 'true'], { timeoutMs: 30_000 });
    assert.equal(res.code, 0, res.stdout + res.stderr);
    const n = Number(/as run\.(\d+) on host-a/.exec(res.stderr)?.[1]);
    assert.ok(n > 0, res.stderr);
    return `run.${n + 1}`;
  };

  before(async () => {
    app = await heldAgentApp();
    ({ cluster, proxy } = app);
  });

  after(async () => {
    await app?.stop();
  });

  it('is listed by ps as starting on its host, fetching its code, and runs once it has its code', async () => {
    let run: ReturnType<typeof startRun> | undefined;
    let shown: PsInstance;
    try {
      run = await runWhileFetching(['--no-tty', '--', 'echo', 'hello from the run']);
      // Polled through the API (a CLI start costs a second under load, and the hold must stay short), then asked of the CLI.
      await waitFor('the run listed while its code is fetched', async () => (await cluster.instances('api')).some((i) => i.type === 'run'), 15_000, 50);
      const listed = await cluster.ps('api');
      // Checked at once: a hold longer than a few seconds under load makes host-a's link give up
      // on its unanswered heartbeats and reconnect, which ends the fetch (it starts again later).
      assert.equal(fetching(), true, 'still fetching while ps listed it');
      shown = listed.find((i) => i.type === 'run')!;
      assert.ok(shown, `cluster ps --json lists the run: ${JSON.stringify(listed)}`);
      assert.deepEqual(
        [shown.state, shown.host, shown.pid, shown.reason, shown.command],
        ['starting', 'host-a', null, 'one-off process; fetching its code', "echo 'hello from the run'"],
      );
      const table = await cluster.ok(['ps', '-a', 'api']);
      assert.match(table.stdout, new RegExp(`^${shown.name.replace('.', '\\.')} +starting +host-a .*echo 'hello from the run' +\\(one-off process; fetching its code\\)$`, 'm'));
    } finally {
      proxy.release();
    }
    const res = await run.exited;
    assert.equal(res.code, 0, res.stdout + res.stderr);
    assert.equal(res.stdout, 'hello from the run\n');
    assert.match(res.stderr, new RegExp(`as ${shown.name.replace('.', '\\.')} on host-a`));
    await waitFor(`${shown.name} gone from ps once it ended`, async () => !(await runOf(shown.name)) || undefined, 15_000, 100);
  });

  for (const [how, mode] of [['ps:stop', 'attached'], ['ps:kill', 'attached'], ['ps:stop', 'detached']] as const) {
    it(`ends an ${mode} run on \`${how}\` while its code is fetched: it never starts, and cluster run exits 1 saying so`, async () => {
      const name = await nextRunName(); // not from ps: this checks the stop alone
      const marker = path.join(cluster.dir, `ran-${how}-${mode}`);
      const command = `echo ran > ${marker}; sleep 30`;
      let run: ReturnType<typeof startRun> | undefined;
      try {
        run = await runWhileFetching([...(mode === 'detached' ? ['--detach'] : ['--no-tty']), '--', 'sh', '-c', command]);
        // The stop finds the agent through the run's `starting` status: once it is stored (the
        // agent reports it as the fetch begins; a stop sent before it lands is not found).
        await waitFor(`${name} reported while its code is fetched`, async () => (await runOf(name))?.state === 'starting' || undefined, 15_000, 50);
        const stop = await cluster.cli([how, name, '-a', 'api']);
        assert.equal(stop.code, 0, stop.stdout + stop.stderr);
        assert.equal(stop.stdout, `${how === 'ps:kill' ? 'Killed' : 'Stopping'} ${name} of api on host-a.\n`);
        // Still fetching: the run ends on the stop, not once the code has come.
        const res = await run.exited;
        assert.equal(res.code, 1, res.stdout + res.stderr);
        const what = how === 'ps:kill' ? 'killed' : 'stopped';
        assert.equal(res.stderr, `error: the one-off process on host-a failed: ${what} on request before it started, while its code was being fetched\n`);
        assert.equal(fetching(), true, 'the run ended while host-a still fetched its code');
      } finally {
        proxy.release();
      }
      // Its end is reported once the control plane's answers to host-a go through again.
      await waitFor(`${name} gone from ps`, async () => !(await runOf(name)) || undefined, 15_000, 100);
      await waitFor('host-a done fetching', () => !fetching() || undefined, 20_000);
      const logs = await cluster.ok(['logs', '-a', 'api', '--ps', name]);
      assert.match(logs.stdout, /Not started: (stopped|killed) on request before it started, while its code was being fetched/);
      assert.doesNotMatch(logs.stdout, /Starting one-off process/);
      assert.equal(fs.existsSync(marker), false, 'the command never ran');
      assert.equal(await runOf(name), undefined, `${name} is not listed once the code came`);
    });
  }

  it('leaves at once on Ctrl-C while its code is fetched (exit 130): the command never runs', async () => {
    const name = await nextRunName();
    const marker = path.join(cluster.dir, 'ran-ctrl-c');
    let run: ReturnType<typeof startRun> | undefined;
    try {
      run = await runWhileFetching(['--no-tty', '--', 'sh', '-c', `echo ran > ${marker}; sleep 30`]);
      run.child.kill('SIGINT');
      const res = await run.exited;
      assert.equal(res.code, 130, res.stdout + res.stderr);
      assert.equal(res.stderr, 'Interrupted before the process started: it does not run.\n');
      assert.equal(fetching(), true, 'it left while host-a still fetched the code');
    } finally {
      proxy.release();
    }
    await waitFor('host-a done fetching', () => !fetching() || undefined, 20_000);
    await waitFor(`${name} not started, said in its log`, async () =>
      /Not started: /.test((await cluster.ok(['logs', '-a', 'api', '--ps', name])).stdout) || undefined, 15_000, 200);
    assert.equal(fs.existsSync(marker), false, 'the command never ran');
    assert.equal(await runOf(name), undefined);
  });

  // Last: it kills host-a. Its next run keeps the lease, and with it the statuses the dead run reported.
  it('drops from ps a run whose agent died (kill -9) while it fetched its code, once the agent is back', async () => {
    const name = await nextRunName();
    const marker = path.join(cluster.dir, 'ran-agent-died');
    let run: ReturnType<typeof startRun> | undefined;
    try {
      run = await runWhileFetching(['--detach', '--', 'sh', '-c', `echo ran > ${marker}; sleep 30`]);
      await waitFor(`${name} starting`, async () => (await cluster.instances('api')).some((i) => i.name === name && i.state === 'starting'), 15_000, 50);
      await cluster.agents.get('host-a')!.kill('SIGKILL');
      await cluster.agents.get('host-a')!.exited;
    } finally {
      proxy.release();
    }
    const res = await run.exited;
    assert.notEqual(res.code, 0, `cluster run does not say it started: ${res.stdout}${res.stderr}`);
    cluster.restartAgent('host-a');
    await waitFor(`${name} gone from ps once host-a is back`, async () => !(await runOf(name)) || undefined, 20_000, 200);
    const logs = await cluster.ok(['logs', '-a', 'api', '--ps', name]);
    assert.match(logs.stdout, /Not started: the agent run that was fetching its code ended/);
    assert.equal(fs.existsSync(marker), false, 'the command never ran');
  });
});
