/**
 * Two servers given the same --name (a copied service file, a machine cloned before it joined): the second is
 * refused while the first holds the id, so the first keeps its lease and the instances run once;
 * the second says why, tries again, and takes the id over once the first is gone for good.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CLI, TestCluster } from '../helpers/test-cluster';
import { spawnDaemon, type Daemon } from '../helpers/daemon';
import { instanceProcesses } from '../helpers/processes';
import { waitFor } from '../helpers/wait-for';

const ID = 'twin';
const APP = 'cloned';

describe('two agents with one id', { timeout: 120_000 }, () => {
  let cluster: TestCluster;
  let second: Daemon | undefined;
  const logOf = (file: string) => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '');

  before(async () => {
    cluster = await TestCluster.start({ agents: [{ id: ID }] });
    await cluster.deployProcfile(APP, 'worker: sleep 100000\n');
    await cluster.ok(['scale', 'worker=2', '-a', APP, '--wait']);
  });

  after(async () => {
    await second?.kill('SIGUSR2');
    await cluster?.stop();
  });

  it('refuses the second while the first holds the id: no lease lost, every instance once', async () => {
    const first = cluster.agents.get(ID)!;
    const firstLogFrom = fs.statSync(first.log).size;
    const [{ address }] = (await cluster.cliJson<{ agents: Array<{ address: string }> }>(['agents'])).agents;
    const dir = path.join(cluster.dir, 'second-twin');
    const log = path.join(cluster.dir, 'second-twin.log');
    second = spawnDaemon('second-twin', [process.execPath, [CLI, 'agent', 'start', '--server', cluster.server, '--name', ID, '--data-dir', dir,
      '--ports', '29000-29099', '--listen', '127.0.0.1:0', '--stop-grace', '5']], log, { ...cluster.env });
    // Refused (said once a minute), and tried again every 2 s: the first's lease (a 2 s TTL) would
    // have been replaced twice by the time it has heartbeated 4 times after the refusal.
    await waitFor('the second agent refused', () => logOf(log).includes('the control plane refused to register this agent') || undefined, 30_000, 100);
    // What must hold while the second keeps trying: sampled for 5 s, over two of its tries.
    const violations: string[] = [];
    for (const until = Date.now() + 5_000; Date.now() < until; await new Promise((r) => setTimeout(r, 100))) {
      const twice = [...instanceProcesses(APP)].filter(([, pids]) => pids.length > 1);
      if (twice.length > 0) violations.push(`running twice: ${JSON.stringify(twice)}`);
    }
    assert.deepEqual(violations.slice(0, 3), []);
    assert.match(logOf(log), new RegExp(`agent id \`${ID}\` is held by another agent, at ${address.replace(/\./g, '\\.')}, whose lease is alive \\(this one is at 127\\.0\\.0\\.1:\\d+\\): every server needs its own --name`));
    assert.ok(second.running, 'the second agent runs on, trying again');
    const planeLog = fs.readFileSync(cluster.controlPlanes[0]!.log, 'utf8');
    assert.match(planeLog, /refused a second agent under a name a live agent holds: every server needs its own --name/, 'the control plane says so too');
    assert.doesNotMatch(fs.readFileSync(first.log, 'utf8').slice(firstLogFrom), /lease lost/, 'the first agent kept its lease');
    const listed = (await cluster.cliJson<{ agents: Array<{ id: string; address: string; state: string }> }>(['agents'])).agents;
    assert.deepEqual(listed.map((a) => [a.id, a.address, a.state]), [[ID, address, 'ready']]);
    const running = instanceProcesses(APP);
    assert.deepEqual([...running.keys()].sort(), ['worker.1', 'worker.2']);
    assert.ok([...running.values()].every((pids) => pids.length === 1), `each worker runs once: ${JSON.stringify([...running])}`);
  });

  it('keeps the name for the first while it restarts, past its lease: the second does not take its instances', async () => {
    const first = cluster.agents.get(ID)!;
    const pids = new Map(instanceProcesses(APP));
    const log = path.join(cluster.dir, 'second-twin.log');
    const secondLogFrom = fs.statSync(log).size;
    await first.kill('SIGTERM'); // leaves for its next run: the restart hold (15 s) keeps its instances
    // Away for three lease TTLs (2 s) and three of the second's tries: it must not take the name.
    const violations: string[] = [];
    for (const until = Date.now() + 6_000; Date.now() < until; await new Promise((r) => setTimeout(r, 100))) {
      const twice = [...instanceProcesses(APP)].filter(([, p]) => p.length > 1);
      if (twice.length > 0) violations.push(`running twice: ${JSON.stringify(twice)}`);
      if (logOf(log).slice(secondLogFrom).includes('registered with the control plane')) violations.push('the second agent registered');
    }
    assert.deepEqual(violations.slice(0, 3), []);
    assert.match(logOf(log).slice(secondLogFrom), /is held by another agent, at [\d.:]+, which is restarting: its instances stay its own for the restart hold/);

    const firstLogFrom = fs.statSync(first.log).size;
    const back = cluster.restartAgent(ID);
    await waitFor('the first registered again', () => logOf(back.log).slice(firstLogFrom).includes('registered with the control plane') || undefined, 30_000, 100);
    const list = await cluster.waitForPs(APP, 'both workers up on the first', (l) => l.length === 2 && l.every((i) => i.state === 'up'));
    assert.deepEqual(new Map(instanceProcesses(APP)), pids, 'the same processes, each once');
    assert.deepEqual(list.map((i) => i.pid).sort(), [...pids.values()].flat().sort());
  });

  it('registers the second once the first has stopped for good, and it runs the instances', async () => {
    await cluster.agents.get(ID)!.stop('SIGUSR2'); // stops its instances; its lease ends
    const list = await cluster.waitForPs(APP, `both workers up on the second ${ID}`, (l) =>
      l.length === 2 && l.every((i) => i.state === 'up' && i.host === ID) && instanceProcesses(APP).size === 2, 30_000);
    const mine = new Set([...instanceProcesses(APP).values()].flat());
    assert.deepEqual(new Set(list.map((i) => i.pid)), mine);
    for (const pid of mine) {
      const env = fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
      assert.ok(env.includes(`CLUSTER_AGENT_DIR=${path.join(cluster.dir, 'second-twin')}`), `worker ${pid} is the second agent's`);
    }
  });
});
