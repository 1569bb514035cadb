/**
 * Which of an agent's status reports count when both layouts hold some (state/packed-statuses.ts),
 * as `ps` reads them (InstanceStatusReader) and as the leader does (ObservedStatuses), against a
 * real etcd: by etcd revision, a per-instance record written after the packed value making all
 * of it stale.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ObservedStatuses } from '../../control-plane/leader/observed-statuses';
import { Keys } from '../../control-plane/keys';
import { encode, type StatusRecord } from '../../control-plane/records';
import { InstanceStatusReader } from '../../control-plane/state/instance-status';
import { encodePackedStatuses, type PackedEntry } from '../../control-plane/state/packed-statuses';
import { createLogger } from '../../lib/log';
import { waitFor } from '../helpers/wait-for';
import { exitWhenDone, uniquePrefix, useEtcd } from '../helpers/etcd';

exitWhenDone();

const entry = (pid: number, state: PackedEntry['state'] = 'up'): PackedEntry => ({ state, pid, startedAtMs: 1, restarts: 0, reason: '', release: 1, port: 0, restartToken: '' });
const single = (agentId: string, pid: number, state: PackedEntry['state'] = 'up'): string => encode({ ...entry(pid, state), agentId, updatedAtMs: 1 } satisfies StatusRecord);
const packedOf = (pids: Record<string, number>) => encodePackedStatuses(1, new Map(Object.entries(pids).map(([name, pid]) => [name, entry(pid)])));

describe('packed and per-instance statuses', { timeout: 60_000 }, () => {
  const etcd = useEtcd();

  it('reads the packed value over older per-instance records, and newer per-instance records over all of it', async () => {
    const keys = new Keys(uniquePrefix());
    const reader = new InstanceStatusReader(etcd.client, keys);
    const leader = await ObservedStatuses.open(etcd.client, keys, createLogger('test', 'silent'));
    const ps = async () => (await reader.reported('shop')).map((r) => `${r.instance}@${r.agentId}:${r.status.state}:${r.status.pid}`).sort();
    const seen = (instance: string, agentId: string) => leader.observed('shop', instance, agentId)?.state;
    try {
      // Records of an earlier agent run, per instance; then its packed value: the packed value counts.
      await etcd.client.put(keys.status('shop', 'worker.1', 'a1')).value(single('a1', 5, 'crashed'));
      await etcd.client.put(keys.status('shop', 'worker.9', 'a1')).value(single('a1', 9));
      await etcd.client.put(keys.packedStatus('shop', 'a1')).value(packedOf({ 'worker.1': 11, 'worker.2': 12, 'worker.3': 13 }));
      // Another agent per instance only, and another app.
      await etcd.client.put(keys.status('shop', 'worker.4', 'a2')).value(single('a2', 44));
      await etcd.client.put(keys.packedStatus('shopping', 'a1')).value(packedOf({ 'worker.1': 99 }));
      assert.deepEqual(await ps(), ['worker.1@a1:up:11', 'worker.2@a1:up:12', 'worker.3@a1:up:13', 'worker.4@a2:up:44']);
      await waitFor('the leader to see the packed value', () => seen('worker.1', 'a1') === 'up');
      assert.equal(seen('worker.9', 'a1'), undefined, 'a stale record is nothing');
      assert.equal(seen('worker.4', 'a2'), 'up');

      // An older replica stores the agent's unpacking: every instance per instance, the packed value left.
      for (const [name, pid] of [['worker.1', 21], ['worker.2', 22], ['worker.3', 23]] as const) {
        await etcd.client.put(keys.status('shop', name, 'a1')).value(single('a1', pid, 'starting'));
      }
      assert.deepEqual(await ps(), ['worker.1@a1:starting:21', 'worker.2@a1:starting:22', 'worker.3@a1:starting:23', 'worker.4@a2:up:44']);
      await waitFor('the leader to see the newer records', () => seen('worker.1', 'a1') === 'starting');
      // …and then worker.3 goes: its entry in the stale packed value must not come back.
      await etcd.client.delete().key(keys.status('shop', 'worker.3', 'a1'));
      assert.deepEqual(await ps(), ['worker.1@a1:starting:21', 'worker.2@a1:starting:22', 'worker.4@a2:up:44']);
      await waitFor('the leader to see worker.3 go', () => seen('worker.3', 'a1') === undefined);
      assert.equal(seen('worker.2', 'a1'), 'starting');
      assert.equal(seen('worker.9', 'a1'), undefined, 'older than the packed value: still stale');

      // Packed again: it counts again.
      await etcd.client.put(keys.packedStatus('shop', 'a1')).value(packedOf({ 'worker.1': 31 }));
      assert.deepEqual(await ps(), ['worker.1@a1:up:31', 'worker.4@a2:up:44']);
      await waitFor('the leader to see the new packed value', () => seen('worker.1', 'a1') === 'up' && seen('worker.2', 'a1') === undefined);
    } finally {
      await leader.close();
    }
  });
});
