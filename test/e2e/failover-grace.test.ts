/**
 * Failover without mass moves (issue 9, point 4): agents get a grace to reconnect after a
 * control-plane restart or a leader change, and keep what they own when they do.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { TestCluster, type PsInstance } from '../helpers/test-cluster';
import { instanceProcesses } from '../helpers/processes';
import { freePort } from '../../lib/free-port';
import { waitFor } from '../helpers/wait-for';

const WORKER = `trap 'exit 0' TERM
while true; do sleep 5 & wait $!; done
`;

// Process-table checks see the whole machine: names no other test uses.
const unique = (base: string) => `${base}-${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}`;
const STEADY = unique('steady');
const STRADDLE = unique('straddle');
const DRAINED = unique('drained');

const allUp = (n: number) => (list: PsInstance[]) => list.length === n && list.every((i) => i.state === 'up');
const snapshot = (list: PsInstance[]) => list.map((i) => `${i.name}:${i.host}:${i.pid}:${i.restarts}`).sort();

/** The app's processes on this machine, `name:pid`, sorted; fails when a name runs twice. */
function processTable(app: string): string[] {
  const out: string[] = [];
  for (const [name, pids] of instanceProcesses(app)) {
    assert.equal(pids.length, 1, `${name} runs once (pids ${pids.join(', ')})`);
    out.push(`${name}:${pids[0]}`);
  }
  return out.sort();
}

describe('a sole control plane killed and kept away for 3 lease TTLs', { timeout: 180_000 }, () => {
  let cluster: TestCluster;

  before(async () => {
    // A 5 s lease (the tests' default is 2 s): the agents' grace is then 10 s from the new
    // control plane's start, room for the three CLI calls that look at it on a busy machine.
    cluster = await TestCluster.start({ agents: [{ id: 'fg-a' }, { id: 'fg-b' }, { id: 'fg-c' }], agentTtl: 5 });
    await cluster.deployApp(STEADY, cluster.appDir('steady', { Procfile: 'worker: sh worker.sh\n', 'worker.sh': WORKER }));
    await cluster.ok(['scale', 'worker=30', '-a', STEADY, '--wait']);
  });

  after(async () => {
    await cluster?.stop();
  });

  it('restarts nothing and moves nothing when it comes back', async () => {
    await waitFor('30 processes', () => processTable(STEADY).length === 30, 15_000, 100);
    const before = snapshot(await cluster.ps(STEADY));
    const processes = processTable(STEADY);
    await cluster.controlPlanes.at(-1)!.kill('SIGKILL');
    // The agents are frozen as well (a busy or cut-off host), so that they come back only after
    // the new control plane has looked at the world: its first rounds find no agent registered.
    const agentPids = [...cluster.agents.values()].map((d) => d.pid);
    for (const pid of agentPids) process.kill(pid, 'SIGSTOP');
    try {
      // Every agent's lease expires meanwhile.
      await new Promise((resolve) => setTimeout(resolve, 3 * cluster.agentTtl * 1000));
      assert.deepEqual(processTable(STEADY), processes, 'instances keep running while the control plane is away');
      const restartedAt = Date.now();
      await cluster.startControlPlane();
      const { agents } = await cluster.cliJson<{ agents: Array<{ id: string; address: string; state: string; instances: number }> }>(['agents']);
      assert.deepEqual(agents.map((a) => `${a.id}:${a.state}:${a.instances}`), ['fg-a:unreachable:10', 'fg-b:unreachable:10', 'fg-c:unreachable:10']);
      assert.ok(agents.every((a) => /^127\.0\.0\.1:\d+$/.test(a.address)), `listed with the address each last registered: ${JSON.stringify(agents)}`);
      // An agent that owns instances is not forgotten: they wait for it or move first.
      const remove = await cluster.cli(['agents:remove', 'fg-a']);
      assert.equal(remove.code, 1, remove.stdout);
      assert.match(remove.stderr, /agent `fg-a` still owns 10 instance\(s\): they move to other agents once it has been gone for the failover grace/);
      const waiting = await cluster.ps(STEADY);
      // Not `starting`: their processes may well run; nobody has been able to say since the leases went.
      assert.ok(waiting.every((i) => i.state === 'unknown' && /^fg-[abc] is unreachable; kept there/.test(i.reason)), `ps says why: ${waiting[0]?.state} ${waiting[0]?.reason}`);
      // Settled and scheduling (1 s), but still within the agents' grace (2 TTLs).
      await new Promise((resolve) => setTimeout(resolve, restartedAt + 1.25 * cluster.agentTtl * 1000 - Date.now()));
    } finally {
      for (const pid of agentPids) process.kill(pid, 'SIGCONT');
    }
    await cluster.waitForAgents(3);
    await cluster.waitForPs(STEADY, 'every instance reported up again', allUp(30), 20_000);
    // Past the agents' grace (2 TTLs) and then some: still the same processes on the same hosts.
    await new Promise((resolve) => setTimeout(resolve, 3 * cluster.agentTtl * 1000));
    assert.deepEqual(snapshot(await cluster.ps(STEADY)), before);
    assert.deepEqual(processTable(STEADY), processes);
    // The new control plane did find the agents missing, and waited for them.
    const log = fs.readFileSync(cluster.controlPlanes.at(-1)!.log, 'utf8');
    assert.match(log, /agent not registered: keeping its instances/);
    assert.doesNotMatch(log, /agent down/);
  });
});

describe('a scale that straddles the leader being killed (two replicas)', { timeout: 120_000 }, () => {
  let cluster: TestCluster;
  const N = 120;

  before(async () => {
    // The first replica leads; the agents and the CLI talk to the second, which takes over.
    cluster = await TestCluster.start();
    const follower = `127.0.0.1:${await freePort()}`;
    await cluster.startControlPlane(follower);
    cluster.server = follower;
    for (const id of ['st-a', 'st-b', 'st-c']) cluster.startAgent({ id, ports: 100 });
    await cluster.waitForAgents(3);
    await cluster.deployApp(STRADDLE, cluster.appDir('straddle', { Procfile: 'worker: sh worker.sh\n', 'worker.sh': WORKER }));
  });

  after(async () => {
    await cluster?.stop();
  });

  it('converges to exactly N, each name once, one process each', async () => {
    const scaling = cluster.cli(['scale', `worker=${N}`, '-a', STRADDLE]);
    await new Promise((resolve) => setTimeout(resolve, 400));
    await cluster.controlPlanes[0]!.kill('SIGKILL');
    assert.equal((await scaling).code, 0);
    const list = await cluster.waitForPs(STRADDLE, `${N} workers up`, allUp(N), 60_000);
    const names = list.map((i) => i.name).sort();
    assert.deepEqual(names, Array.from({ length: N }, (_, i) => `worker.${i + 1}`).sort());
    await waitFor(`${N} processes`, () => processTable(STRADDLE).length === N, 15_000, 100);
    const table = processTable(STRADDLE);
    assert.deepEqual(table.map((e) => e.split(':')[0]).sort(), names);
    assert.deepEqual(table, list.map((i) => `${i.name}:${i.pid}`).sort(), 'ps names the processes that run');
    // Balanced within one over the three hosts.
    const perHost = new Map<string, number>();
    for (const i of list) perHost.set(i.host ?? '-', (perHost.get(i.host ?? '-') ?? 0) + 1);
    const counts = [...perHost.values()];
    assert.ok(Math.max(...counts) - Math.min(...counts) <= 1, `spread ${JSON.stringify([...perHost])}`);
  });
});

describe('a drained agent gone within a new leader\'s grace (two replicas)', { timeout: 120_000 }, () => {
  let cluster: TestCluster;

  before(async () => {
    // A 10 s lease: the new leader's grace is 20 s, far longer than a move takes.
    cluster = await TestCluster.start({ agentTtl: 10 });
    const follower = `127.0.0.1:${await freePort()}`;
    await cluster.startControlPlane(follower);
    cluster.server = follower;
    cluster.startAgent({ id: 'dr-a' });
    await cluster.waitForAgents(1);
    await cluster.deployApp(DRAINED, cluster.appDir('drained', { Procfile: 'worker: sh worker.sh\n', 'worker.sh': WORKER }));
    await cluster.ok(['scale', 'worker=3', '-a', DRAINED, '--wait']);
  });

  after(async () => {
    await cluster?.stop();
  });

  it('has its instances moved to a new agent at once: a drain needs no grace', async () => {
    // The only agent: its instances have nowhere to go yet and keep running there.
    await cluster.ok(['agents:drain', 'dr-a']);
    const [first, second] = cluster.controlPlanes;
    assert.equal((await cluster.leader())?.daemon, first, 'the first replica leads');
    await first!.kill('SIGTERM');
    await waitFor('the second replica to lead', async () => (await cluster.leader())?.daemon === second, 20_000, 100);
    const ledAt = Date.now();
    // Emptied on purpose, as docs say (drain, then stop with --stop-instances): its lease ends at
    // once, within the new leader's grace.
    const stopped = await cluster.cli(['agent', 'stop', '--stop-instances', '--data-dir', cluster.agentDir('dr-a')]);
    assert.equal(stopped.code, 0, stopped.stderr);
    cluster.startAgent({ id: 'dr-b' });
    await cluster.waitForPs(DRAINED, 'every worker up on dr-b', (l) => l.length === 3 && l.every((i) => i.state === 'up' && i.host === 'dr-b'), 40_000);
    const tookMs = Date.now() - ledAt;
    const down = fs.readFileSync(second!.log, 'utf8').split('\n').filter((line) => line.includes('agent down') && line.includes('dr-a'));
    assert.deepEqual(down, [], 'moved without waiting for dr-a to be declared down');
    assert.ok(tookMs < 2 * cluster.agentTtl * 1000, `moved ${tookMs} ms after the new leader took over, within its grace`);
  });
});
