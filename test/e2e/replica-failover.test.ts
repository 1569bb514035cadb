/**
 * Two control-plane replicas: agents given both (and one given only the first, which learns
 * the second) keep their leases and their processes when the replica they use is killed
 * with SIGKILL; the CLI fails over along a `--server` list; a malformed list is refused.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pidsMatching, TestCluster, type PsInstance } from '../helpers/test-cluster';
import { instanceProcesses } from '../helpers/processes';
import { waitFor } from '../helpers/wait-for';

const LOOP = `trap 'exit 0' TERM
while true; do sleep 1 & wait $!; done
`;

describe('control-plane replica failover', { timeout: 180_000 }, () => {
  let cluster: TestCluster;
  let a: string;
  let b: string;
  let marker: string;

  before(async () => {
    cluster = await TestCluster.start({ replicas: 2 });
    [a, b] = cluster.servers as [string, string];
    cluster.startAgent({ id: 'both-1', server: `${a},${b}` });
    cluster.startAgent({ id: 'both-2', server: `${a},${b}` });
    cluster.startAgent({ id: 'only-a', server: a });
    await cluster.waitForAgents(3);
    marker = `failover-app-${process.pid}`;
    const dir = cluster.appDir(marker, { 'Procfile': `worker: sh loop.sh ${marker}\n`, 'loop.sh': LOOP });
    await cluster.deployApp('shop', dir);
    await cluster.ok(['scale', 'worker=6', '-a', 'shop']);
    await cluster.waitForPs('shop', '6 workers up', (ps) => ps.length === 6 && ps.every((i) => i.state === 'up' && i.pid));
  });

  after(async () => {
    await cluster?.stop();
  });

  const byName = (ps: PsInstance[]) => new Map(ps.map((i) => [i.name, `${i.host}/${i.pid}/${i.restarts}`]));

  it('lists both replicas through either one', async () => {
    for (const server of [a, b]) {
      const res = await cluster.cli(['agents', '--json'], { server });
      assert.equal(res.code, 0, res.stderr);
    }
    // The agent given only A has learned B (and keeps it in its data dir).
    await waitFor('only-a remembers both replicas', () => {
      const saved = JSON.parse(fs.readFileSync(path.join(cluster.dir, 'only-a', 'replicas.json'), 'utf8')) as { servers: string[] };
      return saved.servers.includes(a) && saved.servers.includes(b);
    }, 15_000);
  });

  it('shows where each agent is reachable', async () => {
    const { agents } = await cluster.cliJson<{ agents: Array<{ id: string; address: string }> }>(['agents']);
    for (const agent of agents) assert.match(agent.address, /^127\.0\.0\.1:\d+$/, `${agent.id}: ${agent.address}`);
  });

  it('keeps every agent, lease and process when the replica they use is killed', async () => {
    const before = await cluster.ps('shop');
    const expected = byName(before);
    // The app's processes that are instances (group leaders with CLUSTER_APP=shop): a pid the
    // marker matches may also be a worker's child between its fork and its exec of `sleep`.
    const instancePids = () => {
      const leaders = new Set([...instanceProcesses('shop').values()].flat());
      return pidsMatching(marker).filter((pid) => leaders.has(pid)).sort();
    };
    const pidsBefore = instancePids();
    assert.ok(pidsBefore.length >= 6);

    await cluster.controlPlanes[0]!.kill('SIGKILL');
    const killedAt = Date.now();

    // For several lease TTLs, every view through B shows the same instances, up, unmoved.
    const watchUntil = killedAt + 4 * cluster.agentTtl * 1000 + 2_000;
    let views = 0;
    // Several looks whatever the machine's speed, spanning several lease TTLs.
    while (Date.now() < watchUntil || views < 3) {
      const res = await cluster.cli(['ps', '-a', 'shop', '--json'], { server: b });
      assert.equal(res.code, 0, res.stderr);
      const ps = (JSON.parse(res.stdout) as { instances: PsInstance[] }).instances;
      assert.ok(ps.every((i) => i.state === 'up'), `not all up ${Date.now() - killedAt} ms after the kill: ${ps.map((i) => `${i.name}:${i.state}:${i.reason}`).join(' ')}`);
      assert.deepEqual(byName(ps), expected);
      views += 1;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const { agents } = await cluster.cliJson<{ agents: Array<{ id: string; state: string }> }>(['agents', '--server', b]);
    assert.deepEqual(agents.map((x) => `${x.id}:${x.state}`).sort(), ['both-1:ready', 'both-2:ready', 'only-a:ready']);
    assert.deepEqual(instancePids(), pidsBefore, 'no process was restarted or added');
    for (const [id, daemon] of cluster.agents) {
      const log = fs.readFileSync(daemon.log, 'utf8');
      assert.ok(!log.includes('lease lost'), `${id} lost its lease`);
      assert.ok(log.includes('control-plane replica unreachable: switching'), `${id} switched replicas`);
    }
  });

  it('the CLI skips a dead replica in --server', async () => {
    const res = await cluster.cli(['ps', '-a', 'shop', '--json', '--server', `${a},${b}`]);
    assert.equal(res.code, 0, res.stderr);
    assert.equal((JSON.parse(res.stdout) as { instances: PsInstance[] }).instances.length, 6);
    const env = await cluster.cli(['apps'], { server: `${a},${b}` });
    assert.equal(env.code, 0, env.stderr);
    const none = await cluster.cli(['apps', '--server', `${a},127.0.0.1:1`]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, new RegExp(`cannot reach the control plane at ${a},127\\.0\\.0\\.1:1`));
  });

  it('refuses a malformed --server list, naming the entry', async () => {
    const res = await cluster.cli(['apps', '--server', `${b},cp-2`]);
    assert.equal(res.code, 2);
    assert.match(res.stderr, /`cp-2` has no port/);
    const agent = await cluster.cli(['agent', 'start', '--server', `${b},[::1]:99999`, '--data-dir', path.join(cluster.dir, 'never')]);
    assert.equal(agent.code, 2);
    assert.match(agent.stderr, /`\[::1\]:99999`: port 99999/);
  });
});
