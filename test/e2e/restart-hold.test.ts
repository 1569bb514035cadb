/**
 * The restart hold (docs/agent-handover.md): an agent restarted on purpose (SIGTERM) keeps its
 * instances for the control plane's `--agent-restart-hold` even when its next run starts after
 * its lease has run out (a loaded machine, a slow upgrade); one that does not come back has its
 * processes stopped by its watchdog before the hold ends, and only then are they placed on
 * another agent: never two copies of an instance at once. A crash (kill -9) gets no hold: the
 * watchdog kills the processes before the lease can end. Checked by `ps` and by the processes
 * themselves (/proc, their CLUSTER_HOST).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import type { Etcd3 } from 'etcd3';
import { Keys } from '../../control-plane/keys';
import { createEtcdClient } from '../../control-plane/etcd/client';
import { TestCluster, type PsInstance } from '../helpers/test-cluster';
import { instanceProcesses } from '../helpers/instance-processes';
import { isGone } from '../helpers/processes';
import { waitFor } from '../helpers/wait-for';

// Process-table checks see the whole machine: a name no other test uses.
const APP = `held-${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}`;
const A = { id: 'hold-a' };
const B = { id: 'hold-b' };
const COUNT = 3;
/**
 * The tests' 2 s lease; the default hold: a watchdog window of 9 s (the hold less the watchdog's
 * 5 s kill grace and 1 s), several leases long, with room for CLI calls on a busy machine.
 */
const HOLD_SECONDS = 15;
/** A worker that takes 3 s to exit on SIGTERM: a copy started elsewhere before then would overlap. */
const SLOW_EXIT = `trap 'sleep 3; exit 0' TERM
while true; do sleep 1 & wait $!; done
`;

const allUpOn = (host: string) => (list: PsInstance[]) => list.length === COUNT && list.every((i) => i.state === 'up' && i.host === host);
const pidsOf = (list: PsInstance[]) => list.map((i) => `${i.name}:${i.pid}`).sort();

/** The app's processes on this machine, `host:pgid`, by instance. */
function copiesByInstance(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const p of instanceProcesses(APP)) out.set(p.instance, [...(out.get(p.instance) ?? []), `${p.host}:${p.pgid}`]);
  return out;
}

/** What runs twice in `copies`, in words. */
function twins(copies: Map<string, string[]>): string[] {
  return [...copies].filter(([, c]) => c.length > 1).map(([instance, c]) => `${instance} runs as ${c.join(' and ')}`);
}

/** The app's processes on this machine by host, `instance:pgid`; fails when an instance runs twice. */
function processesByHost(): Map<string, string[]> {
  const copies = copiesByInstance();
  assert.deepEqual(twins(copies), [], 'every instance runs once');
  const out = new Map<string, string[]>();
  for (const [instance, [copy]] of copies) {
    const [host, pgid] = copy!.split(':');
    out.set(host!, [...(out.get(host!) ?? []), `${instance}:${pgid}`].sort());
  }
  return out;
}

describe('restart hold', { timeout: 180_000 }, () => {
  let cluster: TestCluster;
  let etcd: Etcd3;
  const keys = new Keys('/cluster/');

  before(async () => {
    cluster = await TestCluster.start({ agents: [A], controlPlaneArgs: ['--agent-restart-hold', String(HOLD_SECONDS)] });
    await cluster.deployProcfile(APP, 'worker: sh slow-exit.sh\n', { 'slow-exit.sh': SLOW_EXIT });
    await cluster.ok(['scale', `worker=${COUNT}`, '-a', APP, '--wait']);
    // A second agent the instances could move to.
    await cluster.startReadyAgent(B);
    etcd = createEtcdClient(cluster.etcd.urls);
  });

  after(async () => {
    etcd?.close();
    await cluster?.stop();
  });

  const leaderLog = () => fs.readFileSync(cluster.controlPlane!.log, 'utf8');

  /**
   * Waits until every instance is up on `to`, noting every moment two copies ran: an instance
   * running twice, or a process on `to` while one of `oldPids` is left on `from` (noted, not
   * thrown: waitFor retries on a throw).
   */
  const moveWatchingCopies = async (oldPids: number[], from: string, to: string, timeoutMs: number) => {
    const overlaps: string[] = [];
    const moved = await waitFor(`the instances to run on ${to}`, async () => {
      const copies = copiesByInstance();
      overlaps.push(...twins(copies));
      const onTo = [...copies.values()].flat().filter((c) => c.startsWith(`${to}:`));
      const oldLeft = oldPids.filter((pid) => !isGone(pid));
      if (onTo.length > 0 && oldLeft.length > 0) overlaps.push(`${to} runs ${onTo.join(', ')} while ${oldLeft.join(', ')} still run on ${from}`);
      const list = await cluster.ps(APP);
      return allUpOn(to)(list) ? list : undefined;
    }, timeoutMs, 100);
    return { overlaps, moved };
  };

  it('keeps the instances of an agent whose next run starts after its lease ran out', async () => {
    const before = await cluster.waitForPs(APP, `every worker up on ${A.id}`, allUpOn(A.id));
    const processes = processesByHost();
    assert.deepEqual(processes.get(A.id), pidsOf(before));
    type Agents = { agents: Array<{ id: string; state: string; instances: number }> };
    const stateOfA = async () => (await cluster.cliJson<Agents>(['agents'])).agents.find((a) => a.id === A.id)?.state;
    await cluster.agents.get(A.id)!.kill('SIGTERM');
    // At once, while its lease may still run: it left for its next run, it is not `ready`.
    assert.equal(await stateOfA(), 'restarting', 'listed restarting as soon as it has left');
    // Its lease (2 s) has run out: ps says why the instances stay, and the leader, which has led
    // for far longer than its grace, would have placed them on hold-b at once without the hold.
    const during = await cluster.waitForPs(APP, 'the instances kept for the restart hold', (l) =>
      l.length === COUNT && l.every((i) => i.host === A.id && i.state === 'unknown' && i.reason.includes(`${A.id} is restarting`)), 15_000);
    assert.match(during[0]!.reason, new RegExp(`kept there for its restart hold \\(${HOLD_SECONDS} s\\)`));
    await waitFor('the leader to keep them for the hold', () => leaderLog().includes('agent restarting (its restart hold lives)'), 5_000, 100);
    const listed = await cluster.cliJson<Agents>(['agents']);
    const held = listed.agents.find((a) => a.id === A.id);
    assert.equal(held?.state, 'restarting', '`cluster agents` says why hold-a keeps its instances');
    assert.equal(held?.instances, COUNT);
    assert.deepEqual(processesByHost(), processes, 'the same processes run, on hold-a only');
    cluster.startAgent(A);
    const afterwards = await cluster.waitForPs(APP, `every worker up on ${A.id} again`, allUpOn(A.id), 30_000);
    assert.deepEqual(pidsOf(afterwards), pidsOf(before), 'taken over: same pids');
    assert.equal(await stateOfA(), 'ready', 'its next run is ready, though the hold it left lives on');
    assert.deepEqual(processesByHost(), processes);
    assert.ok(!leaderLog().includes('agent down'), 'no agent was declared down');
  });

  it('stops the processes of an agent that does not come back before the hold ends, then moves them', async () => {
    const before = await cluster.waitForPs(APP, `every worker up on ${A.id}`, allUpOn(A.id));
    const oldPids = before.map((i) => i.pid!);
    await cluster.agents.get(A.id)!.kill('SIGTERM');
    const { overlaps, moved } = await moveWatchingCopies(oldPids, A.id, B.id, HOLD_SECONDS * 1000 + 30_000);
    assert.deepEqual(overlaps, [], 'never two copies');
    assert.ok(oldPids.every(isGone), 'the old processes were stopped');
    assert.equal(processesByHost().get(B.id)?.length, COUNT);
    assert.equal(moved.length, COUNT);
    assert.match(leaderLog(), /agent down/);
  });

  it('grants no hold while a replica that does not read holds is in the set: the window is the lease\'s', async () => {
    await cluster.waitForPs(APP, `every worker up on ${B.id}`, allUpOn(B.id));
    // An older replica's record (the version before packed assignments and holds): as leader it
    // would move the instances once the lease ran out, while a watchdog told of a hold kept them.
    const lease = etcd.lease(60);
    await lease.put(keys.replica('older-replica')).value(JSON.stringify({ id: 'older-replica', address: '127.0.0.1:1', version: '0.0.1', startedAt: new Date().toISOString(), features: ['packed-statuses'] }));
    try {
      // The leader has seen it once it writes the app's packed group back per instance.
      await waitFor('the leader to see the older replica', async () => (await etcd.getAll().prefix(keys.allAssignments()).keys()).every((k) => !keys.parsePackedAssignments(k)), 20_000, 100);
      const agent = cluster.agents.get(B.id)!;
      await agent.kill('SIGTERM');
      const stopped = await waitFor('hold-b to say its window', () => /"handoverWindowMs":(\d+).*agent stopped; its instances run on/.exec(fs.readFileSync(agent.log, 'utf8'))?.[1], 10_000, 100);
      assert.ok(Number(stopped) <= 2_000 - 500, `a lease-long window (2 s lease), not the hold's: ${stopped} ms`);
      assert.deepEqual(await etcd.getAll().prefix(keys.restartHolds()).keys(), [], 'no restart hold written');
    } finally {
      await lease.revoke();
    }
  });

  it('kills the processes of an agent that crashed before its lease can end: one slow to exit on SIGTERM never runs next to its copy', async () => {
    // Both agents back: the instances land on hold-a (hold-b, stopped above, owns nothing now).
    await cluster.startReadyAgent(A);
    const before = await cluster.waitForPs(APP, `every worker up on ${A.id}`, allUpOn(A.id), 30_000);
    await cluster.startReadyAgent(B);
    const oldPids = before.map((i) => i.pid!);
    // No leaving heartbeat, no hold: the instances move once the 2 s lease has run out, while the
    // workers would take 3 s to exit on the watchdog's SIGTERM.
    await cluster.agents.get(A.id)!.kill('SIGKILL');
    const { overlaps, moved } = await moveWatchingCopies(oldPids, A.id, B.id, 30_000);
    assert.deepEqual(overlaps, [], 'never two copies');
    assert.ok(oldPids.every(isGone), 'the old processes were killed');
    assert.equal(moved.length, COUNT);
  });
});
