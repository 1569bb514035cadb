/**
 * `cluster restart --wait` where it is hard: restarting the instance of a crash loop (the restart
 * is its fix, not a reason to give up), and a second restart of the same target while the first
 * is followed (the wait follows the later one); and the count it announces, while an instance
 * being moved runs on two agents.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CLI, TestCluster } from '../helpers/test-cluster';
import { instanceProcesses, listening } from '../helpers/processes';
import { waitFor } from '../helpers/wait-for';
import { callUnary } from '../../lib/grpc-call';

// Process-table checks see the whole machine: a name no other test uses.
const APP = `rw-${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}`;

describe('restart --wait', { timeout: 120_000 }, () => {
  let cluster: TestCluster;
  let flag: string;

  before(async () => {
    cluster = await TestCluster.start({ agents: [{ id: 'rw-a' }, { id: 'rw-b' }] });
    flag = path.join(cluster.appDir('flag', {}), 'ok');
    await cluster.deployProcfile(APP, `worker: sleep 100000\nflaky: test -f ${flag} && exec sleep 100000; echo no flag; exit 1\n`);
    await cluster.ok(['scale', 'worker=3', '-a', APP, '--wait']);
  });

  after(async () => {
    await cluster?.stop();
  });

  it('restarts an instance out of its crash loop, and waits until its new process is up', async () => {
    await cluster.ok(['scale', 'flaky=1', '-a', APP]);
    await cluster.waitForPs(APP, 'flaky.1 in a crash loop', (l) => l.some((i) => i.name === 'flaky.1' && i.state === 'crashed' && i.restarts >= 3), 30_000);
    fs.writeFileSync(flag, '');
    const res = await cluster.cli(['restart', 'flaky', '-a', APP, '--wait']);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stderr, /All instances restarted and up in/);
    const flaky = (await cluster.ps(APP)).find((i) => i.name === 'flaky.1')!;
    assert.equal(flaky.state, 'up');
    assert.deepEqual(instanceProcesses(APP).get('flaky.1'), [flaky.pid], 'its process runs');
  });

  it('follows a second restart of the same target made while it waits', async () => {
    const before = new Map((await cluster.ps(APP)).map((i) => [i.name, i.pid]));
    const waiting = spawn(process.execPath, [CLI, 'restart', 'worker', '-a', APP, '--wait'], { env: cluster.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    waiting.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => waiting.once('exit', (code) => resolve(code)));
    // Its first poll: no worker can be up again before 2 s (docs/boot-checks.md), so it still waits.
    await waitFor('the first wait to poll', () => /\d+\/3 restarted and up/.test(stderr), 15_000, 20);
    // Straight through the API: a second CLI start could come after the first restart is done.
    await callUnary(cluster.api, 'Restart', { app: APP, target: 'worker' });
    assert.equal(await exited, 0, stderr);
    assert.match(stderr, /worker was restarted again meanwhile: following that restart/);
    const workers = (await cluster.ps(APP)).filter((i) => i.type === 'worker');
    assert.equal(workers.length, 3);
    assert.ok(workers.every((i) => i.state === 'up' && i.pid !== before.get(i.name)), JSON.stringify(workers));
    const processes = instanceProcesses(APP);
    for (const w of workers) assert.deepEqual(processes.get(w.name), [w.pid], `${w.name} runs once, as ps says`);
  });

  it('counts an instance being moved (its new copy next to the old one) once', async () => {
    const moving = `${APP}-mv`;
    // A web that binds $PORT only while no `held` file exists: the first copy comes up, then its
    // new copy never does, so the old one (up) is held back.
    const held = path.join(path.dirname(flag), 'held');
    await cluster.deployProcfile(moving, `web: test -f ${held} && exec sleep 100000; ${listening('sleep 100000')}\n`);
    await cluster.ok(['scale', 'web=1', '-a', moving]);
    const placed = await cluster.waitForPs(moving, 'web.1 up', (l) => l.some((i) => i.name === 'web.1' && i.state === 'up'));
    const from = placed.find((i) => i.name === 'web.1')!.host!;
    fs.writeFileSync(held, '');
    type Agents = { agents: Array<{ id: string; instances: number }> };
    const agents = async () => (await cluster.cliJson<Agents>(['agents'])).agents;
    const total = (await agents()).reduce((n, a) => n + a.instances, 0);
    await cluster.ok(['agents:drain', from]);
    try {
      // The other instances have moved off (their new copies come up), web.1 is on both agents.
      await waitFor('web.1 on both agents (the move waits for its new copy)', async () => {
        const list = await agents();
        return list.reduce((n, a) => n + a.instances, 0) === total + 1 && list.find((a) => a.id === from)?.instances === 1;
      }, 20_000, 200);
      const res = await cluster.ok(['ps:restart', 'web', '-a', moving]);
      assert.match(res.stdout, new RegExp(`^Restarting web of ${moving} \\(1 instance\\)\\.$`, 'm'));
    } finally {
      await cluster.ok(['scale', 'web=0', '-a', moving]);
      await cluster.ok(['agents:activate', from]);
    }
  });
});
