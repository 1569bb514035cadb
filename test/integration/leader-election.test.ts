/**
 * Leadership that holds through etcd's failures (control-plane/leader/election.ts and the
 * scheduler loop's side of it): a campaign whose answer is lost, a follower's watch cancelled by
 * compaction, a fence that fails in the middle of a round, a plan whose last write leaves no event.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LeaderElection } from '../../control-plane/leader/election';
import { SchedulerLoop } from '../../control-plane/leader/scheduler-loop';
import { ClusterView } from '../../control-plane/state/cluster-view';
import { PrefixMirror } from '../../control-plane/etcd/mirror';
import { createEtcdClient } from '../../control-plane/etcd/client';
import { createdAt } from '../../control-plane/etcd/batch';
import { Keys } from '../../control-plane/keys';
import { EtcdCluster } from '../../lib/etcd-cluster';
import { createLogger } from '../../lib/log';
import { exitWhenDone, uniquePrefix, useEtcd } from '../helpers/etcd';
import { waitFor } from '../helpers/wait-for';

const logger = createLogger('test', 'silent');

exitWhenDone();

describe('leader election', { timeout: 90_000 }, () => {
  const etcd = useEtcd();

  it('a campaign that committed though its answer was lost still leads', async () => {
    const key = `${uniquePrefix()}leader`;
    const kv = etcd.client.kv as unknown as { txn: (req: unknown) => Promise<unknown> };
    const txn = kv.txn.bind(kv);
    let lost = 0;
    // The first campaign is applied, then fails as a deadline would.
    kv.txn = async (req) => {
      const res = await txn(req);
      if (lost++ === 0) throw new Error('4 DEADLINE_EXCEEDED: Deadline exceeded');
      return res;
    };
    const a = new LeaderElection(etcd.client, key, 'A', 3, logger);
    const b = new LeaderElection(etcd.client, key, 'B', 3, logger);
    try {
      a.start();
      await waitFor('A retried its campaign', () => lost >= 2, { timeoutMs: 10_000 });
      kv.txn = txn;
      b.start();
      await waitFor('A leads under the key it holds', () => a.state === 'leader', { timeoutMs: 10_000 });
      assert.equal(await etcd.client.get(key).string(), 'A');
      assert.equal(b.state, 'follower');
      // And it is a real leader: its fence holds.
      const fenced = await etcd.client.kv.txn({ compare: [a.fence()], success: [], failure: [] });
      assert.ok(fenced.succeeded, 'the fence of the recovered leadership holds');
    } finally {
      kv.txn = txn;
      await a.close();
      await b.close();
    }
  });

  it('a follower whose watch was compacted away still takes over when the leader dies', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cluster-election-'));
    const cluster = await EtcdCluster.start(path.join(dir, 'data'), { members: 1 });
    const ca = createEtcdClient(cluster.urls);
    const cb = createEtcdClient(cluster.urls);
    const key = '/election/leader';
    // Leases longer than an etcd restart on a loaded machine; A's end revokes its own at once.
    const a = new LeaderElection(ca, key, 'A', 15, logger);
    const b = new LeaderElection(cb, key, 'B', 15, logger);
    try {
      a.start();
      await waitFor('A leads', () => a.state === 'leader');
      b.start();
      const watching = () => (b as unknown as { watcher?: unknown }).watcher;
      await waitFor('B watches the leader key', () => watching() !== undefined);
      // Other writes, then history is compacted past the revision B's watch would resume from.
      for (let i = 0; i < 20; i++) await ca.put(`/election/other/${i}`).value('1');
      const { header } = await ca.kv.range({ key: Buffer.from(key) });
      await ca.kv.compact({ revision: header.revision, physical: true });
      // An etcd restart shorter than the leases: B's watch stream breaks and cannot resume.
      const before = watching();
      await cluster.member(0).stop();
      await cluster.member(0).start();
      await waitFor('B watches the key again, anew', () => watching() !== undefined && watching() !== before, { timeoutMs: 20_000 });
      assert.equal(a.state, 'leader', 'the restart cost nobody the lead');
      await a.close(); // A dies: its lease is revoked, the key goes
      await waitFor('B takes over', () => b.state === 'leader', { timeoutMs: 8_000 });
      assert.equal(await cb.get(key).string(), 'B');
    } finally {
      await a.close();
      await b.close();
      ca.close();
      cb.close();
      await cluster.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a round whose fence fails stops the loop, steps down, and the loop starts again when elected', async () => {
    const keys = new Keys(uniquePrefix());
    await etcd.client.put(keys.app('a')).value(JSON.stringify({ name: 'a', createdAtMs: 1, release: 1 }));
    await etcd.client.put(keys.release('a', 1)).value(JSON.stringify({ version: 1, description: '', createdAtMs: 1, slug: 'x', processTypes: { web: 'x' }, env: {} }));
    await etcd.client.put(keys.formation('a')).value(JSON.stringify({ counts: { web: 1 }, restartTokens: {} }));
    const view = await ClusterView.open(etcd.client, keys, logger);
    let stepDowns = 0;
    // Another replica leads: the leader key was never created at this revision.
    const election = { fence: () => createdAt(keys.leader(), '999999999'), term: () => '7', stepDown: (term: string) => term === '7' && stepDowns++ } as unknown as LeaderElection;
    const loop = new SchedulerLoop(etcd.client, view, election, logger, { agentDownGraceMs: 100 });
    const running = () => (loop as unknown as { running?: Promise<void> }).running;
    try {
      await loop.start();
      // The round has `web.1` to mark unplaced (no agent), and its fenced write is refused.
      await waitFor('the round stepped down', () => stepDowns === 1);
      await waitFor('the round ended', () => running() === undefined, { timeoutMs: 5_000 });
      await waitFor('stop() returns', async () => (await Promise.race([loop.stop().then(() => true), new Promise((r) => setTimeout(() => r(false), 1_000))])) === true, { timeoutMs: 5_000 });
      // Elected again: the loop runs rounds again (and steps down again: the fence still fails).
      await loop.start();
      await waitFor('a round ran again', () => stepDowns === 2, { timeoutMs: 10_000 });
    } finally {
      await loop.stop();
      await view.close();
    }
  });

  it("a write that leaves no event in a mirror's prefix does not keep a wait for it forever", async () => {
    const prefix = uniquePrefix();
    await etcd.client.put(`${prefix}mine/a`).value('{}');
    const mirror = await PrefixMirror.open(etcd.client, `${prefix}mine/`, logger);
    let resyncs = 0;
    mirror.on('resync', () => resyncs++);
    try {
      // A delete of a key already gone answers the store's revision, moved on by other keys.
      await etcd.client.put(`${prefix}other`).value('{}');
      const res = await etcd.client.kv.txn({ compare: [], success: [{ request_delete_range: { key: Buffer.from(`${prefix}mine/gone`) } }], failure: [] });
      const revision = Number(res.header.revision);
      assert.ok(mirror.revision < revision, 'no event of that revision will come');
      await mirror.catchUp(revision, 300);
      assert.ok(mirror.revision >= revision, 'read afresh at or past it');
      assert.equal(resyncs, 1);
      assert.ok(mirror.entries.has(`${prefix}mine/a`), 'the entries are still there');
      // And it still follows the prefix.
      await etcd.client.put(`${prefix}mine/b`).value('{}');
      await waitFor('the watch goes on', () => mirror.entries.has(`${prefix}mine/b`));
    } finally {
      await mirror.close();
    }
  });
  it('a plan whose commit failed though etcd applied it is planned again from etcd read afresh', async () => {
    const keys = new Keys(uniquePrefix());
    await etcd.client.put(keys.app('a')).value(JSON.stringify({ name: 'a', createdAtMs: 1, release: 1 }));
    await etcd.client.put(keys.release('a', 1)).value(JSON.stringify({ version: 1, description: '', createdAtMs: 1, slug: 'x', processTypes: { worker: 'x' }, env: {} }));
    await etcd.client.put(keys.formation('a')).value(JSON.stringify({ counts: { worker: 2 }, restartTokens: {} }));
    const agent = { id: 'h1', address: '127.0.0.1:1', datacenter: 'dc1', labels: {}, capacity: 10, version: 'test', registeredAtMs: 1, state: 'ready' };
    await etcd.client.put(keys.agent('h1')).value(JSON.stringify(agent));
    const leader = await etcd.client.put(keys.leader()).value('me');
    const election = { fence: () => createdAt(keys.leader(), leader.header.revision), term: () => '1', stepDown: () => undefined } as unknown as LeaderElection;
    const view = await ClusterView.open(etcd.client, keys, logger);
    const loop = new SchedulerLoop(etcd.client, view, election, logger, { agentDownGraceMs: 60_000 });
    const kv = etcd.client.kv as unknown as { txn: (req: unknown) => Promise<unknown> };
    const txn = kv.txn.bind(kv);
    let lost = 0;
    let resyncsBeforeRetry = -1;
    let resyncs = 0;
    view.assignments.on('resync', () => resyncs++);
    // The first plan is applied, then fails as a deadline would; the next commit notes whether
    // the assignments were read afresh in between.
    kv.txn = async (req) => {
      if (lost === 1 && resyncsBeforeRetry < 0) resyncsBeforeRetry = resyncs;
      const res = await txn(req);
      if (lost++ === 0) throw new Error('4 DEADLINE_EXCEEDED: Deadline exceeded');
      return res;
    };
    try {
      await loop.start();
      await waitFor('the plan failed once', () => lost >= 1, { timeoutMs: 10_000 });
      // Something else to place: the next round has a plan, and commits it.
      await etcd.client.put(keys.formation('a')).value(JSON.stringify({ counts: { worker: 3 }, restartTokens: {} }));
      await waitFor('3 workers placed', () => view.assignmentList({ app: 'a' }).length === 3, { timeoutMs: 10_000 });
      assert.ok(resyncsBeforeRetry >= 1, `the assignments were read afresh before the next plan (${resyncsBeforeRetry} resyncs)`);
      assert.deepEqual(view.assignmentList({ app: 'a' }).map((a) => a.instance).sort(), ['worker.1', 'worker.2', 'worker.3']);
    } finally {
      kv.txn = txn;
      await loop.stop();
      await view.close();
    }
  });
});
