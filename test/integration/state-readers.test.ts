/**
 * What the API handlers read through state/ (docs/architecture.md, "Layers of the control
 * plane"), against a real etcd: instance statuses and the unplaced list, an agent's records as
 * an operator changes them, and the one-off run counter.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Keys } from '../../control-plane/keys';
import { encode, type AgentRecord, type StatusRecord } from '../../control-plane/records';
import { AgentRecords } from '../../control-plane/state/agent-records';
import { InstanceStatusReader, encodeUnplaced } from '../../control-plane/state/instance-status';
import { nextRunNumber, readRunCounter } from '../../control-plane/state/run-counter';
import { exitWhenDone, uniquePrefix, useEtcd } from '../helpers/etcd';

exitWhenDone();

function status(agentId: string, state: StatusRecord['state'], pid: number): StatusRecord {
  return { agentId, state, pid, startedAtMs: 1, restarts: 0, reason: '', release: 1, port: 0, restartToken: '', updatedAtMs: 1 };
}

const AGENT: AgentRecord = { id: 'a1', address: '127.0.0.1:1', datacenter: 'dc1', labels: {}, capacity: 10, version: 'x', registeredAtMs: 1, state: 'ready' };

describe('state readers against etcd', { timeout: 60_000 }, () => {
  const etcd = useEtcd();

  it('reads every report of an app by instance and agent, and nothing of another app', async () => {
    const keys = new Keys(uniquePrefix());
    const reader = new InstanceStatusReader(etcd.client, keys);
    await etcd.client.put(keys.status('shop', 'web.1', 'a1')).value(encode(status('a1', 'up', 11)));
    await etcd.client.put(keys.status('shop', 'web.1', 'a2')).value(encode(status('a2', 'starting', 12)));
    await etcd.client.put(keys.status('shop', 'run.3', 'a2')).value(encode(status('a2', 'up', 13)));
    await etcd.client.put(keys.status('shopping', 'web.1', 'a1')).value(encode(status('a1', 'up', 99)));
    await etcd.client.put(keys.status('shop', 'worker.1', 'a3')).value('not json');

    const reported = await reader.reported('shop');
    assert.deepEqual(
      reported.map((r) => [r.instance, r.agentId, r.status.pid]).sort(),
      [['run.3', 'a2', 13], ['web.1', 'a1', 11], ['web.1', 'a2', 12]],
    );
    assert.deepEqual((await reader.reportingAgents('shop', 'web.1')).sort(), ['a1', 'a2']);
    assert.deepEqual(await reader.reportingAgents('shop', 'run.3'), ['a2']);
    assert.deepEqual(await reader.reportingAgents('shop', 'run.30'), [], 'run.3 is not a prefix match of run.30');
  });

  it('reads the unplaced list the leader writes; none when it wrote nothing', async () => {
    const keys = new Keys(uniquePrefix());
    const reader = new InstanceStatusReader(etcd.client, keys);
    assert.deepEqual(await reader.unplaced('shop'), { instances: [], agentsRevision: undefined });
    const list = [{ app: 'shop', instance: 'web.3', type: 'web', reason: 'no agent has room' }];
    const current = await etcd.client.put(keys.unplaced('shop')).value(encodeUnplaced(list, 42)).exec();
    assert.deepEqual(await reader.unplaced('shop'), { instances: list, agentsRevision: 42, writtenAt: Number(current.header.revision) });
    // As a leader of an older version writes it: no revision; the key's own revision stands in.
    const older = await etcd.client.put(keys.unplaced('shop')).value(JSON.stringify({ instances: list })).exec();
    assert.deepEqual(await reader.unplaced('shop'), { instances: list, agentsRevision: undefined, writtenAt: Number(older.header.revision) });
  });

  it('drains only a registered agent, and tells a present but unreadable record from none', async () => {
    const keys = new Keys(uniquePrefix());
    const records = new AgentRecords(etcd.client, keys);
    const drain = { drainedAtMs: 5, agent: AGENT };
    assert.equal(await records.drainWhileRegistered('a1', drain), undefined, 'not registered: nothing written');
    assert.equal(await records.drain('a1'), undefined);

    await etcd.client.put(keys.agent('a1')).value(encode(AGENT));
    assert.deepEqual(await records.registered('a1'), AGENT);
    const revision = await records.drainWhileRegistered('a1', drain);
    assert.ok(revision !== undefined && Number(revision) > 0);
    assert.deepEqual(await records.drain('a1'), { record: drain });

    await records.removeDrain('a1');
    assert.equal(await records.drain('a1'), undefined);

    await etcd.client.put(keys.drain('a1')).value('{broken');
    assert.deepEqual(await records.drain('a1'), { record: undefined }, 'the key is there: activate can still remove it');
  });

  it('writes and reads the web toggle', async () => {
    const keys = new Keys(uniquePrefix());
    const records = new AgentRecords(etcd.client, keys);
    assert.equal(await records.webToggle('a1'), undefined);
    const toggle = { web: false, setBy: 'agents:web' as const, setAtMs: 7 };
    await records.setWebToggle('a1', toggle);
    assert.deepEqual(await records.webToggle('a1'), { record: toggle });
  });

  it('hands out distinct run numbers to concurrent callers', async () => {
    const keys = new Keys(uniquePrefix());
    const shop = { name: 'shop', createdAtMs: 1, release: 0 };
    await etcd.client.put(keys.app('shop')).value(encode(shop));
    const numbers = await Promise.all(Array.from({ length: 8 }, () => nextRunNumber(etcd.client, keys, shop)));
    assert.deepEqual([...numbers].sort((a, b) => a - b), [1, 2, 3, 4, 5, 6, 7, 8]);
    assert.equal((await readRunCounter(etcd.client, keys, 'shop')).next, 9);
  });

  it('hands out no run number for an app destroyed (or made again) since it was read', async () => {
    const keys = new Keys(uniquePrefix());
    const gone = nextRunNumber(etcd.client, keys, { name: 'shop', createdAtMs: 1 });
    await assert.rejects(gone, /app `shop` was destroyed: the one-off process was not started/);
    await etcd.client.put(keys.app('shop')).value(encode({ name: 'shop', createdAtMs: 2, release: 0 }));
    await assert.rejects(nextRunNumber(etcd.client, keys, { name: 'shop', createdAtMs: 1 }), /was destroyed/);
    assert.equal((await readRunCounter(etcd.client, keys, 'shop')).next, 1, 'no counter written');
    assert.equal(await nextRunNumber(etcd.client, keys, { name: 'shop', createdAtMs: 2 }), 1, 'the app made again runs');
  });
});
