/**
 * What a status report writes (control-plane/agents/status-writes.ts): packed values for
 * complete apps when the replica packs, per-instance records otherwise, and what goes.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_PACKED_STATUS_BYTES, oneOffCountWrite, statusWrites } from '../../control-plane/agents/status-writes';
import type { WriteOp } from '../../control-plane/etcd/batch';
import { InvalidArgumentError } from '../../control-plane/errors';
import { Keys } from '../../control-plane/keys';
import { decode, type StatusRecord } from '../../control-plane/records';
import { decodePackedStatuses } from '../../control-plane/state/packed-statuses';
import type { InstanceStatus__Output } from '../../proto/gen/cluster/agent/InstanceStatus';
import type { StatusReport__Output } from '../../proto/gen/cluster/agent/StatusReport';

const keys = new Keys('/c/');

function status(app: string, instance: string, state = 'up', command = ''): InstanceStatus__Output {
  return { app, instance, state, pid: 7, started_at_ms: 1, restarts: 0, reason: '', release: 3, port: 0, restart_token: 't', command };
}

function report(statuses: InstanceStatus__Output[], complete: string[] = [], unpacked: string[] = [], swept: string[] = [], oneOffs = 0): StatusReport__Output {
  return { agent_id: 'a1', lease_id: '42', statuses, complete_apps: complete, unpacked_apps: unpacked, swept_apps: swept, one_offs: oneOffs };
}

/** `put KEY` / `delete KEY`, sorted. */
function summary(ops: WriteOp[]): string[] {
  return ops.map((op) => ('put' in op ? `put ${op.put}` : `delete ${op.delete as string}`)).sort();
}

function putValue(ops: WriteOp[], key: string): string {
  const op = ops.find((o) => 'put' in o && o.put === key) as { value: string } | undefined;
  assert.ok(op, `a put of ${key}`);
  return op.value;
}

describe('status writes', () => {
  it('packs a complete app into one value under the lease, and deletes the gone ones\' records', () => {
    const { ops, logApps } = statusWrites(keys, 'a1', report([
      status('shop', 'web.1'), status('shop', 'worker.1', 'crashed'), status('shop', 'worker.2', 'gone'), status('blog', 'web.1'),
    ], ['shop']), true, 1_000);
    assert.deepEqual(summary(ops), ['delete /c/status/shop/worker.2/a1', 'put /c/status/blog/web.1/a1', 'put /c/status/shop/@a1']);
    const packed = decodePackedStatuses(putValue(ops, '/c/status/shop/@a1'), 'a1');
    assert.equal(packed?.writtenAtMs, 1_000);
    assert.deepEqual([...packed!.instances.keys()].sort(), ['web.1', 'worker.1']);
    assert.deepEqual(packed!.instances.get('worker.1'), {
      agentId: 'a1', state: 'crashed', pid: 7, startedAtMs: 1, restarts: 0, reason: '', release: 3, port: 0, restartToken: 't', updatedAtMs: 1_000,
    });
    assert.ok(ops.every((op) => !('put' in op) || op.lease === '42'), 'every put under the agent\'s lease');
    assert.deepEqual([...logApps].sort(), ['blog', 'shop']);
    assert.equal(decode<StatusRecord>(putValue(ops, '/c/status/blog/web.1/a1'))?.agentId, 'a1');
  });

  it('deletes the packed value of an app whose last instance went', () => {
    const { ops } = statusWrites(keys, 'a1', report([status('shop', 'web.1', 'gone')], ['shop']), true, 5);
    assert.deepEqual(summary(ops), ['delete /c/status/shop/@a1', 'delete /c/status/shop/web.1/a1']);
  });

  it('sweeps the per-instance records of a swept app\'s instances, and only when it packs', () => {
    const statuses = [status('shop', 'web.1'), status('shop', 'web.2', 'gone'), status('blog', 'web.1')];
    const { ops } = statusWrites(keys, 'a1', report(statuses, ['shop', 'blog'], [], ['shop']), true, 5);
    assert.deepEqual(summary(ops), ['delete /c/status/shop/web.1/a1', 'delete /c/status/shop/web.2/a1', 'put /c/status/blog/@a1', 'put /c/status/shop/@a1']);
    const unpacked = statusWrites(keys, 'a1', report(statuses, ['shop', 'blog'], [], ['shop']), false, 5);
    assert.ok(summary(unpacked.ops).includes('put /c/status/shop/web.1/a1'), 'written per instance, not swept');
  });

  it('stores a complete app per instance, and drops its packed value, when the replica does not pack', () => {
    const { ops } = statusWrites(keys, 'a1', report([status('shop', 'web.1'), status('shop', 'web.2')], ['shop']), false, 5);
    assert.deepEqual(summary(ops), ['delete /c/status/shop/@a1', 'put /c/status/shop/web.1/a1', 'put /c/status/shop/web.2/a1']);
  });

  it('drops the packed value of an app the agent unpacks', () => {
    const { ops } = statusWrites(keys, 'a1', report([status('shop', 'web.1')], [], ['shop']), true, 5);
    assert.deepEqual(summary(ops), ['delete /c/status/shop/@a1', 'put /c/status/shop/web.1/a1']);
  });

  it('stores per instance a complete app too large for one value', () => {
    const command = 'x'.repeat(100_000);
    const statuses = Array.from({ length: 6 }, (_, i) => status('shop', `run.${i + 1}`, 'up', command));
    const { ops } = statusWrites(keys, 'a1', report(statuses, ['shop']), true, 5);
    assert.ok(6 * command.length > MAX_PACKED_STATUS_BYTES);
    assert.equal(ops.filter((op) => 'put' in op).length, 6);
    assert.ok(summary(ops).includes('delete /c/status/shop/@a1'));
  });

  it('refuses a malformed report whole', () => {
    for (const bad of [
      report([status('shop', 'web.1')], ['A B']),
      report([status('shop', 'web.1')], [], ['../x']),
      report([status('shop', 'web.1')], ['shop'], [], ['A B']),
      report([status('shop', 'web.1'), status('shop', '../x')], ['shop']),
      report([status('shop', 'web.1', 'dancing')], ['shop']),
    ]) {
      assert.throws(() => statusWrites(keys, 'a1', bad, true, 5), InvalidArgumentError);
    }
  });
});

describe('oneOffCountWrite', () => {
  const withCount = (n: number) => report([status('shop', 'run.1')], [], [], [], n);

  it('writes the count under the agent\'s lease when it changed, deletes it at 0, and writes nothing when known', () => {
    const put = oneOffCountWrite(keys, 'a1', withCount(2), 1);
    assert.deepEqual(put, { put: '/c/oneoffs/a1', value: JSON.stringify({ oneOffs: 2 }), lease: '42' });
    assert.equal(oneOffCountWrite(keys, 'a1', withCount(2), 2), undefined);
    assert.deepEqual(oneOffCountWrite(keys, 'a1', withCount(0), 2), { delete: '/c/oneoffs/a1' });
  });

  it('writes when nothing is known of this lease, a 0 as a delete (an older agent reports 0)', () => {
    assert.deepEqual(oneOffCountWrite(keys, 'a1', withCount(3), undefined), { put: '/c/oneoffs/a1', value: JSON.stringify({ oneOffs: 3 }), lease: '42' });
    assert.deepEqual(oneOffCountWrite(keys, 'a1', withCount(0), undefined), { delete: '/c/oneoffs/a1' });
  });

  it('refuses a count no agent could have', () => {
    for (const bad of [-1, 1.5, 1e9, Number.NaN]) assert.throws(() => oneOffCountWrite(keys, 'a1', withCount(bad), undefined), InvalidArgumentError);
  });
});
