/** `cluster dev` as a user runs it: up with the example app, found without flags, gone after Ctrl-C. */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CLI, pidsMatching } from '../helpers/test-cluster';
import { cmdlineOf } from '../helpers/processes';
import { waitFor } from '../helpers/wait-for';

describe('cluster dev', { timeout: 180_000 }, () => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'cluster-dev-'));
  const env = { ...process.env, CLUSTER_HOME: home, CLUSTER_SERVER: '' };
  after(() => process.env.KEEP_TEST_DIRS || fs.rmSync(home, { recursive: true, force: true }));

  const cli = (args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile(process.execPath, [CLI, ...args], { env }, (err, stdout, stderr) =>
        resolve({ code: err ? Number(err.code) || 99 : 0, stdout, stderr })),
    );

  interface Instance {
    name: string;
    state: string;
    pid: number | null;
    host: string | null;
  }
  /** The instances of `ps -a shop`, or undefined when it does not answer. */
  const instancesNow = async () => {
    const res = await cli(['ps', '-a', 'shop', '--json']);
    return res.code === 0 ? (JSON.parse(res.stdout) as { instances: Instance[] }).instances : undefined;
  };
  /** `ps -a shop` once it answers with every instance up and its pid known. */
  const everyInstanceUp = (what: string) =>
    waitFor(what, async () => {
      const instances = await instancesNow();
      return instances && instances.length > 0 && instances.every((i) => i.state === 'up' && i.pid) ? instances : undefined;
    }, 30_000);
  /** What the first test's run ran last, before its Ctrl-C. */
  let earlierRun: Instance[] = [];

  /** `cluster dev --agents N` started; `up()` waits until it says it is up. */
  const startDev = (agents: number) => {
    const dev = spawn(process.execPath, [CLI, 'dev', '--agents', String(agents)], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const run = { dev, output: '', exited: new Promise<number | null>((resolve) => dev.once('exit', (code) => resolve(code))) };
    dev.stdout.on('data', (d: Buffer) => (run.output += d.toString()));
    dev.stderr.on('data', (d: Buffer) => (run.output += d.toString()));
    const up = () =>
      waitFor('the dev cluster to be up', () => {
        if (dev.exitCode !== null) throw new Error(`cluster dev exited: ${run.output}`);
        return run.output.includes('The dev cluster is up');
      }, 60_000);
    return { dev, exited: run.exited, up, get text() { return run.output; } };
  };

  /** After a failed assertion: SIGKILL leaves dev's daemons and the app running; stop them too. */
  const killEverything = (dev: ReturnType<typeof spawn>) => {
    dev.kill('SIGKILL');
    for (const pid of pidsMatching(home)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
  };

  it('runs etcd, a control plane and 3 agents with the example app, and stops it all on Ctrl-C', async () => {
    const run = startDev(3);
    const { dev, exited } = run;
    try {
      await run.up();

      // Plain commands find it without --server.
      const agents = JSON.parse((await cli(['agents', '--json'])).stdout) as { agents: Array<{ id: string; datacenter: string; instances: number; capacity: number }> };
      assert.deepEqual(agents.agents.map((a) => a.id), ['agent-1', 'agent-2', 'agent-3']);
      // Each dev agent hands out 200 ports, one per instance: no more can be placed on it.
      assert.deepEqual(agents.agents.map((a) => a.capacity), [200, 200, 200]);
      assert.deepEqual([...new Set(agents.agents.map((a) => a.datacenter))].sort(), ['dc-1', 'dc-2']);
      const ps = JSON.parse((await cli(['ps', '-a', 'shop', '--json'])).stdout) as { instances: Array<{ state: string; host: string }> };
      assert.ok(ps.instances.length >= 3 && ps.instances.every((i) => i.state === 'up'), JSON.stringify(ps));
      assert.equal(new Set(ps.instances.map((i) => i.host)).size, 3, 'instances on every agent');
      // The dashboard: its address printed, a one-use link from `cluster dashboard` logs in.
      const dashboard = /dashboard +(http:\/\/127\.0\.0\.1:\d+)\//.exec(run.text)?.[1];
      assert.ok(dashboard, run.text);
      assert.equal((await fetch(`${dashboard}/api/apps`)).status, 401);
      const link = (await cli(['dashboard', '--print-url'])).stdout.trim();
      assert.ok(link.startsWith(`${dashboard}/login?token=`), link);
      const login = await fetch(link, { redirect: 'manual' });
      assert.equal(login.status, 303);
      const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0]!;
      const apps = (await (await fetch(`${dashboard}/api/apps`, { headers: { cookie } })).json()) as { apps: Array<{ name: string }> };
      assert.deepEqual(apps.apps.map((a) => a.name), ['shop']);

      // kill -9 of its control plane: dev starts it again, and the log follow goes on.
      // A pid read may be gone by its command line (the example's short-lived `sleep`s): cmdlineOf gives ''.
      const controlPlane = pidsMatching(home).filter((pid) => cmdlineOf(pid).includes('control-plane\0start'));
      assert.equal(controlPlane.length, 1, `one control plane: ${controlPlane.join(', ')}`);
      const lastJob = (text: string) => Math.max(0, ...[...text.matchAll(/processed job (\d+)/g)].map((m) => Number(m[1])));
      const before = lastJob(run.text);
      process.kill(controlPlane[0]!, 'SIGKILL');
      await waitFor('dev to start the control plane again', () => /control-plane exited \(SIGKILL\); starting it again/.test(run.text), 20_000);
      await waitFor('log lines printed after the restart', () => {
        if (dev.exitCode !== null) throw new Error(`cluster dev exited: ${run.text}`);
        return lastJob(run.text) > before + 2;
      }, 30_000);
      assert.equal((await cli(['ps', '-a', 'shop'])).code, 0, 'the control plane answers again');

      // kill -9 of its etcd: dev starts it again on the same port and data; nothing was lost.
      // Each agent has re-reported its instances since the control plane's restart (its lease may
      // have run out meanwhile, and its statuses with it): every one up, with its pid.
      const instancesBefore = await everyInstanceUp('the agents to report again after the control-plane restart');
      const etcd = pidsMatching(home).filter((pid) => path.basename(cmdlineOf(pid).split('\0')[0]!) === 'etcd');
      assert.equal(etcd.length, 1, `one etcd: ${etcd.join(', ')}`);
      process.kill(etcd[0]!, 'SIGKILL');
      await waitFor('dev to start etcd again', () => /etcd exited \(SIGKILL\); starting it again in 1 s on http:\/\/127\.0\.0\.1:\d+/.test(run.text), 20_000);
      const instancesAfter = await everyInstanceUp('ps to answer from etcd again');
      assert.deepEqual(instancesAfter.map((i) => `${i.name}:${i.pid}`), instancesBefore.map((i) => `${i.name}:${i.pid}`), 'the same instances, never restarted');

      // kill -9 of an agent: dev starts it again at once (its next run has the crash hand-over
      // window to take the instances over), and every instance is up again.
      const agent1 = pidsMatching(home).filter((pid) => cmdlineOf(pid).includes('agent\0start\0') && cmdlineOf(pid).includes('\0--name\0agent-1\0'));
      assert.equal(agent1.length, 1, `one agent-1: ${agent1.join(', ')}`);
      process.kill(agent1[0]!, 'SIGKILL');
      await waitFor('dev to start agent-1 again', () => /agent-1 exited \(SIGKILL\); starting it again in 200 ms\./.test(run.text), 20_000);
      const newAgent1 = await waitFor('a new agent-1 to run', () => pidsMatching(home).find((pid) => pid !== agent1[0] && cmdlineOf(pid).includes('\0--name\0agent-1\0')), 20_000);
      // Started (it holds the stop signals from here, and takes the instances over): a Ctrl-C
      // before that ended it by SIGUSR2's default action, and the old run's processes were left
      // for its watchdog's window, past the check below.
      const agent1Log = path.join(home, 'dev', 'logs', 'agent-1.log');
      await waitFor('the new agent-1 to have started', () => fs.readFileSync(agent1Log, 'utf8').split('\n').some((l) => l.includes(`"pid":${newAgent1}`) && l.includes('"msg":"agent started"')), 30_000);
      earlierRun = await everyInstanceUp('every instance up after the agent restart');

      dev.kill('SIGINT');
      assert.equal(await exited, 0, run.text);
      assert.deepEqual(pidsMatching(home).map((pid) => `${pid} ${cmdlineOf(pid).split('\0').join(' ')}`), [], 'no daemon or app process left');
      assert.ok(!fs.existsSync(path.join(home, 'dev.json')), 'the state file is removed');
      const after = await cli(['ps', '-a', 'shop']);
      assert.equal(after.code, 2, 'nothing answers any more');
    } finally {
      killEverything(dev);
    }
  });

  it('started again with fewer agents, gives each agent its instances back and forgets the agents of the earlier run', async () => {
    assert.ok(earlierRun.length > 0, 'the first test ran');
    const run = startDev(2);
    // From the start on: `ps` never lists a process of the earlier run (all stopped by its Ctrl-C).
    // And the instances of agent-3, which does not run now, are kept there for the failover grace
    // (it may come back) before they move: Ctrl-C left them assigned to it.
    const earlierPids = new Set(earlierRun.map((i) => i.pid));
    const seenEarlier: string[] = [];
    let keptOnAgent3 = false;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        for (const i of (await instancesNow()) ?? []) {
          if (earlierPids.has(i.pid)) seenEarlier.push(`${i.name} ${i.state} pid ${i.pid}`);
          if (i.host === 'agent-3' && i.state === 'unknown') keptOnAgent3 = true;
        }
        await new Promise((resolve) => setTimeout(resolve, 100)); // pacing, not a busy loop of CLI starts
      }
    })();
    try {
      await run.up();
      sampling = false;
      await sampler;
      assert.deepEqual(seenEarlier, [], 'no process of the earlier run listed');
      assert.ok(keptOnAgent3, 'the instances of agent-3 were kept there for a while');
      // Ctrl-C stopped the control plane before the agents, so each kept its instances.
      const now = await everyInstanceUp('every instance up again');
      const stayed = earlierRun.filter((i) => i.host !== 'agent-3').map((i) => `${i.name}@${i.host}`);
      assert.ok(stayed.length > 0, JSON.stringify(earlierRun));
      assert.deepEqual(now.filter((i) => stayed.includes(`${i.name}@${i.host}`)).map((i) => `${i.name}@${i.host}`), stayed, 'on the same agents as before');
      // agent-3 owned instances: down once the failover grace has passed (it starts again whenever
      // etcd did not answer the control plane in time, as on a busy machine), then forgotten.
      // On a timeout: what `cluster agents` last said, and what the control plane logged of agent-3 and etcd.
      let lastAgents = '';
      const cpLog = () => {
        const file = path.join(home, 'dev', 'logs', 'control-plane.log');
        const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
        return text.split('\n').filter((l) => /agent-3|etcd does not answer|etcd answers again|leader/.test(l)).slice(-12).join('\n');
      };
      await waitFor('dev to forget agent-3', async () => {
        if (/Forgot agent-3, an agent of an earlier run of this dev cluster\./.test(run.text)) return true;
        lastAgents = (await cli(['agents'])).stdout;
        return false;
      }, { timeoutMs: 60_000, intervalMs: 1_000, describe: () => `cluster agents:\n${lastAgents}\ncontrol plane:\n${cpLog()}` });
      const { agents } = JSON.parse((await cli(['agents', '--json'])).stdout) as { agents: Array<{ id: string; state: string }> };
      assert.deepEqual(agents.map((a) => `${a.id}:${a.state}`), ['agent-1:ready', 'agent-2:ready']);
      const instances = await everyInstanceUp('every instance up on the two agents');
      assert.equal(instances.length, 7);
      run.dev.kill('SIGINT');
      assert.equal(await run.exited, 0, run.text);
      assert.deepEqual(pidsMatching(home).map((pid) => `${pid} ${cmdlineOf(pid).split('\0').join(' ')}`), [], 'no daemon or app process left');
    } finally {
      sampling = false; // also when dev did not come up
      killEverything(run.dev);
      await sampler;
    }
  });
});
