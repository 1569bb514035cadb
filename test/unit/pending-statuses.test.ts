/**
 * What an agent's next status report holds (agent/link/pending-statuses.ts): whole apps while
 * the control plane packs them, single instances otherwise, and the turns between the two.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PACK_MAX_INSTANCES, PendingStatuses, type TakenStatuses } from '../../agent/link/pending-statuses';
import type { InstanceStatus } from '../../proto/gen/cluster/agent/InstanceStatus';

function status(app: string, instance: string, state = 'up', pid = 1): InstanceStatus {
  return { app, instance, state, pid, started_at_ms: 1, restarts: 0, reason: '', release: 1, port: 0, restart_token: '', command: '' };
}

function names(taken: TakenStatuses): string[] {
  return taken.statuses.map((s) => `${s.app}/${s.instance}:${s.state}`).sort();
}

/** Records `count` instances of `app` and sends them, the control plane answering `packs`. */
function seeded(count: number, packs: boolean, app = 'shop'): PendingStatuses {
  const pending = new PendingStatuses();
  for (let i = 1; i <= count; i++) pending.record(status(app, `worker.${i}`));
  let taken = pending.take(10_000);
  pending.sent(taken, packs);
  taken = pending.take(10_000);
  pending.sent(taken, packs);
  assert.equal(pending.hasDirty, false);
  return pending;
}

describe('pending statuses', () => {
  it('sends a changed app whole, and only the changed apps, while the control plane packs', () => {
    const pending = new PendingStatuses();
    pending.record(status('shop', 'web.1'));
    pending.record(status('shop', 'worker.1'));
    pending.record(status('blog', 'web.1'));
    const first = pending.take(500);
    assert.deepEqual(first.complete_apps.sort(), ['blog', 'shop'], 'assumed packing at first');
    pending.sent(first, true);
    assert.equal(pending.hasDirty, false);

    pending.record(status('shop', 'worker.1', 'crashed'));
    const next = pending.take(500);
    assert.deepEqual(next.complete_apps, ['shop']);
    assert.deepEqual(names(next), ['shop/web.1:up', 'shop/worker.1:crashed'], 'every instance of shop, none of blog');
    assert.deepEqual(next.unpacked_apps, []);
  });

  it('counts the one-offs running or starting (run.N, release.N), not instances nor ended ones', () => {
    const p = new PendingStatuses();
    p.record(status('shop', 'web.1'));
    p.record(status('shop', 'run.1', 'starting'));
    p.record(status('shop', 'run.2'));
    p.record(status('blog', 'release.3'));
    assert.equal(p.oneOffs(), 3);
    p.record(status('shop', 'run.2', 'gone'));
    assert.equal(p.oneOffs(), 2, 'an ended one-off is not counted, though its end is not sent yet');
    p.sent(p.take(500), true);
    assert.equal(p.oneOffs(), 2);
  });

  it('sends single changes once the control plane says it does not pack', () => {
    const pending = seeded(3, false);
    assert.equal(pending.packing, false);
    pending.record(status('shop', 'worker.2', 'crashed'));
    const taken = pending.take(500);
    assert.deepEqual(names(taken), ['shop/worker.2:crashed']);
    assert.deepEqual(taken.complete_apps, []);
    assert.deepEqual(taken.unpacked_apps, []);
  });

  it('unpacks every other packed app, whole, when the control plane stops packing', () => {
    const pending = seeded(3, true);
    pending.record(status('blog', 'web.1'));
    pending.sent(pending.take(500), true);
    pending.record(status('shop', 'worker.1', 'crashed'));
    // An older replica joined: this report of shop is stored per instance (its packed value
    // dropped), and the answer says so; blog's packed value is still there.
    pending.sent(pending.take(500), false);
    const unpack = pending.take(500);
    assert.deepEqual(unpack.unpacked_apps, ['blog']);
    assert.deepEqual(unpack.complete_apps, []);
    assert.deepEqual(names(unpack), ['blog/web.1:up'], 'all of blog: its packed value goes');
    pending.sent(unpack, false);
    assert.equal(pending.hasDirty, false);
    pending.record(status('shop', 'worker.3', 'crashed'));
    assert.deepEqual(names(pending.take(500)), ['shop/worker.3:crashed'], 'then single changes');
  });

  it('unpacks on a heartbeat\'s answer, with nothing changed', () => {
    const pending = seeded(3, true);
    pending.setPacking(true);
    assert.equal(pending.hasDirty, false);
    pending.setPacking(false);
    const unpack = pending.take(500);
    assert.deepEqual(unpack.unpacked_apps, ['shop']);
    assert.equal(unpack.statuses.length, 3);
    pending.sent(unpack, false);
    pending.setPacking(false);
    assert.equal(pending.hasDirty, false, 'once');
  });

  it('packs again once the control plane does', () => {
    const pending = seeded(3, false);
    pending.record(status('shop', 'worker.1', 'crashed'));
    pending.sent(pending.take(500), true);
    pending.record(status('shop', 'worker.2', 'crashed'));
    const taken = pending.take(500);
    assert.deepEqual(taken.complete_apps, ['shop']);
    assert.equal(taken.statuses.length, 3);
  });

  it('sends an app too large for one value per instance, and unpacks it when it grows that large', () => {
    const pending = seeded(PACK_MAX_INSTANCES, true);
    pending.record(status('shop', `worker.${PACK_MAX_INSTANCES + 1}`));
    const grown = pending.take(500);
    assert.deepEqual(grown.unpacked_apps, ['shop'], 'it was packed: its value goes');
    assert.equal(grown.statuses.length, PACK_MAX_INSTANCES + 1, 'whole, over the batch size');
    pending.sent(grown, true);
    pending.record(status('shop', 'worker.7', 'crashed'));
    const single = pending.take(500);
    assert.deepEqual(names(single), ['shop/worker.7:crashed']);
    assert.deepEqual(single.complete_apps, []);
    assert.deepEqual(single.unpacked_apps, []);
  });

  it('sweeps per-instance records: after a kept lease, and after sending per instance; once', () => {
    const fresh = seeded(2, true);
    fresh.record(status('shop', 'worker.1', 'crashed'));
    assert.deepEqual(fresh.take(500).swept_apps, [], 'a fresh lease holds no per-instance record');

    const kept = new PendingStatuses();
    kept.record(status('shop', 'worker.1'));
    kept.record(status('blog', 'web.1'));
    kept.markAllDirty();
    kept.keptLease();
    const first = kept.take(500);
    assert.deepEqual(first.swept_apps.sort(), ['blog', 'shop']);
    kept.sent(first, true);
    kept.record(status('shop', 'worker.1', 'crashed'));
    assert.deepEqual(kept.take(500).swept_apps, [], 'swept once');

    const unpacked = seeded(2, false);
    unpacked.setPacking(true);
    unpacked.record(status('shop', 'worker.1', 'crashed'));
    const repacked = unpacked.take(500);
    assert.deepEqual(repacked.complete_apps, ['shop']);
    assert.deepEqual(repacked.swept_apps, ['shop'], 'it was sent per instance');
  });

  it('keeps reports within the batch size', () => {
    const pending = new PendingStatuses();
    for (const app of ['a', 'b', 'c']) for (let i = 1; i <= 80; i++) pending.record(status(app, `worker.${i}`));
    const first = pending.take(100);
    assert.deepEqual(first.complete_apps, ['a'], 'a second app would go over 100');
    assert.deepEqual(pending.take(100).complete_apps, ['b']);
    assert.deepEqual(pending.take(100).complete_apps, ['c']);
    assert.equal(pending.hasDirty, false);
  });

  it('unpacks an app whose packed report may have been stored though it failed', () => {
    const pending = seeded(3, true);
    pending.record(status('blog', 'web.1'));
    const first = pending.take(500);
    assert.deepEqual(first.complete_apps, ['blog']);
    pending.failed(first); // e.g. a deadline after etcd had committed it
    pending.setPacking(false);
    const next = pending.take(500);
    assert.ok(next.unpacked_apps.includes('blog'), 'its packed value, if any, goes');
  });

  it('sends a failed report again, and a failed unpacking whole', () => {
    const pending = seeded(3, true);
    pending.record(status('shop', 'worker.1', 'crashed'));
    const taken = pending.take(500);
    pending.failed(taken);
    assert.deepEqual(names(pending.take(500)), names(taken));

    const unpacking = seeded(3, true);
    unpacking.record(status('blog', 'web.1'));
    unpacking.record(status('blog', 'web.2'));
    unpacking.sent(unpacking.take(500), true);
    unpacking.record(status('shop', 'worker.1', 'crashed'));
    unpacking.sent(unpacking.take(500), false);
    const unpack = unpacking.take(500);
    assert.deepEqual(unpack.unpacked_apps, ['blog']);
    unpacking.failed(unpack);
    const again = unpacking.take(500);
    assert.deepEqual(again.unpacked_apps, ['blog']);
    assert.equal(again.statuses.length, 2);
  });

  it('forgets a gone instance once it is sent, unless it came back meanwhile', () => {
    const pending = seeded(2, true);
    pending.record(status('shop', 'worker.1', 'gone'));
    pending.record(status('shop', 'worker.2', 'gone'));
    const taken = pending.take(500);
    assert.deepEqual(names(taken), ['shop/worker.1:gone', 'shop/worker.2:gone']);
    pending.record(status('shop', 'worker.2', 'starting'));
    pending.sent(taken, true);
    assert.equal(pending.latest('shop', 'worker.1'), undefined);
    assert.equal(pending.latest('shop', 'worker.2')?.state, 'starting');
    assert.deepEqual(names(pending.take(500)), ['shop/worker.2:starting'], 'the app without its gone instance');
  });

  it('sends an app whose last instance went as an empty whole app', () => {
    const pending = seeded(1, true);
    pending.record(status('shop', 'worker.1', 'gone'));
    pending.sent(pending.take(500), true);
    pending.markAllDirty();
    assert.equal(pending.hasDirty, false, 'nothing left of shop to send again');
  });
});
