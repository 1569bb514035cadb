import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { createLogger } from '../../lib/log';
import { DisconnectGuard, type Reachability } from '../../agent/disconnect-guard';
import { Reconciler } from '../../agent/reconciler';
import { assignment } from '../helpers/assignments';
import type { InstanceStatus } from '../../proto/gen/cluster/agent/InstanceStatus';
import { fixture, isGone } from '../helpers/processes';
import { reconcilerDeps } from '../helpers/reconciler-deps';
import { waitFor } from '../helpers/wait-for';
import { IDLE_LOOP } from '../helpers/idle-loop';

const logger = createLogger('disconnect-test', 'silent');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function guarded(graceMs: number) {
  const link = new EventEmitter();
  const suspended: string[] = [];
  let resumesAllowed = 0;
  const target = {
    isSuspended: false,
    suspend(why: string) {
      this.isSuspended = true;
      suspended.push(why);
    },
    allowResume() {
      resumesAllowed += 1;
    },
  };
  let snapshotsAsked = 0;
  const guard = new DisconnectGuard(graceMs, link as unknown as Reachability, target, logger, () => snapshotsAsked++);
  return { link, suspended, guard, snapshotsAsked: () => snapshotsAsked, resumesAllowed: () => resumesAllowed };
}

describe('disconnected grace: when the agent gives up on its instances', () => {
  it('stops everything once the control plane has been unreachable for the grace', async () => {
    const { link, suspended, guard } = guarded(150);
    const since = Date.now();
    link.emit('unreachable', since);
    await sleep(60);
    assert.deepEqual(suspended, [], 'not before the grace has passed');
    await waitFor('the instances to be stopped', () => suspended.length === 1, 2_000, 10);
    assert.ok(Date.now() - since >= 150);
    assert.match(suspended[0]!, /no control plane reachable for \d+ s/);
    guard.close();
  });

  it('counts the grace from the first failure, not from when it heard of it', async () => {
    const { link, suspended, guard } = guarded(1_000);
    link.emit('unreachable', Date.now() - 5_000);
    await waitFor('an immediate stop', () => suspended.length === 1, 500, 10);
    guard.close();
  });

  it('keeps everything running when the control plane answers again within the grace', async () => {
    const { link, suspended, guard } = guarded(100);
    link.emit('unreachable', Date.now());
    await sleep(30);
    link.emit('reachable');
    await sleep(150);
    assert.deepEqual(suspended, []);
    guard.close();
  });

  it('asks for a fresh snapshot when a control plane answers again after it stopped everything', async () => {
    // Only a snapshot lifts the suspension, and a stream to a replica that lost etcd never broke to send one.
    const { link, suspended, guard, snapshotsAsked, resumesAllowed } = guarded(50);
    link.emit('unreachable', Date.now());
    await waitFor('the instances to be stopped', () => suspended.length === 1, 2_000, 10);
    assert.equal(snapshotsAsked(), 0);
    assert.equal(resumesAllowed(), 0);
    link.emit('reachable');
    assert.equal(snapshotsAsked(), 1);
    assert.equal(resumesAllowed(), 1, 'the snapshot asked for may lift the suspension');
    // Cut off again before it came: the guard says so at once (suspend again resets the allowance).
    link.emit('unreachable', Date.now());
    assert.equal(suspended.length, 2);
    guard.close();
  });

  it('asks for no snapshot when the control plane answers again within the grace', () => {
    const { link, guard, snapshotsAsked } = guarded(1_000);
    link.emit('unreachable', Date.now());
    link.emit('reachable');
    assert.equal(snapshotsAsked(), 0);
    guard.close();
  });

  it('keeps everything running forever with a grace of 0 (the default)', async () => {
    const { link, suspended, guard } = guarded(0);
    link.emit('unreachable', Date.now() - 3_600_000);
    await sleep(50);
    assert.deepEqual(suspended, []);
    assert.equal(link.listenerCount('unreachable'), 0);
    guard.close();
  });
});

// web is up once it accepts connections on $PORT (docs/boot-checks.md).
const WEB = `exec node ${fixture('listen.js')}`;

describe('reconciler: suspended until the next snapshot', () => {
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'suspend-test-'));
  const statuses: InstanceStatus[] = [];
  const reconciler = new Reconciler(reconcilerDeps({ cwd, processTypes: { web: WEB, worker: IDLE_LOOP }, ports: { from: 42100, to: 42199 }, statuses, logger }));
  after(async () => {
    await reconciler.close();
    fs.rmSync(cwd, { recursive: true, force: true });
  });

  const spec = (instance: string) => assignment({ instance, type: instance.split('.')[0]! });
  const pids = () => {
    const latest = new Map<string, InstanceStatus>();
    for (const s of statuses) latest.set(s.instance!, s);
    return [...latest.values()].filter((s) => s.state === 'up').map((s) => s.pid!);
  };

  it('stops every instance, starts nothing new, and runs what the next snapshot names', async () => {
    reconciler.apply({ snapshot: true, upserts: [spec('web.1'), spec('worker.1')], removes: [] });
    await waitFor('two instances up', () => pids().length === 2, 5_000);
    const before = pids();
    reconciler.suspend('no control plane reachable for 30 s (disconnected grace)');
    assert.ok(reconciler.isSuspended);
    await waitFor('both processes gone', () => before.every(isGone) && reconciler.size === 0, 5_000);
    // Changes streamed while suspended are remembered but not run.
    reconciler.apply({ snapshot: false, upserts: [spec('worker.2')], removes: [] });
    await sleep(200);
    assert.equal(reconciler.size, 0);
    // A snapshot while no control plane answers heartbeats (the link switched to a replica that
    // lost etcd and reopened the stream) lifts nothing: that replica's copy may be stale.
    reconciler.apply({ snapshot: true, upserts: [spec('web.1'), spec('worker.1')], removes: [] });
    assert.ok(reconciler.isSuspended);
    await sleep(200);
    assert.equal(reconciler.size, 0, 'nothing started from a snapshot before the control plane answered again');
    // Allowed, then cut off again before the snapshot came: a stale one still lifts nothing.
    reconciler.allowResume();
    reconciler.suspend('no control plane reachable again');
    reconciler.apply({ snapshot: true, upserts: [spec('web.1')], removes: [] });
    assert.ok(reconciler.isSuspended, 'a snapshot after a new cut lifts nothing');
    // A fresh snapshot once a control plane answers again says what this agent still owns.
    reconciler.allowResume();
    reconciler.apply({ snapshot: true, upserts: [spec('web.1')], removes: [] });
    assert.ok(!reconciler.isSuspended);
    await waitFor('web.1 up again', () => reconciler.size === 1 && pids().length === 1, 5_000);
  });
});
