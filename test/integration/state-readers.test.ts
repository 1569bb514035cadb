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
import { encodePackedStatuses } from '../../control-plane/state/packed-statuses';
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

  it('reads packed statuses, a per-instance record counting only when written after its agent\'s packed value', async () => {
    const keys = new Keys(uniquePrefix());
    const reader = new InstanceStatusReader(etcd.client, keys);
    const entry = (pid: number) => ({ state: 'up' as const, pid, startedAtMs: 1, restarts: 0, reason: '', release: 1, port: 0, restartToken: '' });
    await etcd.client.put(keys.packedStatus('shop', 'a1')).value(encodePackedStatuses(100, new Map([['web.1', entry(11)], ['worker.1', entry(21)]])));
    await etcd.client.put(keys.packedStatus('shop', 'a2')).value(encodePackedStatuses(100, new Map([['worker.2', entry(22)]])));
    // Older than a1's packed value: stale (its instance left meanwhile, or is in the value).
    await etcd.client.put(keys.status('shop', 'worker.1', 'a1')).value(encode({ ...status('a1', 'crashed', 5), updatedAtMs: 50 }));
    await etcd.client.put(keys.status('shop', 'worker.9', 'a1')).value(encode({ ...status('a1', 'up', 9), updatedAtMs: 50 }));
    // Newer than a2's: it counts, for its instance only.
    await etcd.client.put(keys.status('shop', 'worker.2', 'a2')).value(encode({ ...status('a2', 'stopping', 32), updatedAtMs: 150 }));
    await etcd.client.put(keys.status('shop', 'worker.3', 'a2')).value(encode({ ...status('a2', 'up', 33), updatedAtMs: 150 }));
    // An agent with no packed value, another app, a malformed packed value.
    await etcd.client.put(keys.status('shop', 'worker.4', 'a3')).value(encode(status('a3', 'up', 44)));
    await etcd.client.put(keys.packedStatus('shopping', 'a1')).value(encodePackedStatuses(100, new Map([['web.1', entry(99)]])));
    await etcd.client.put(keys.packedStatus('shop', 'a4')).value('{"instances": 3}');

    const reported = await reader.reported('shop');
    assert.deepEqual(
      reported.map((r) => [r.instance, r.agentId, r.status.state, r.status.pid]).sort(),
      [['web.1', 'a1', 'up', 11], ['worker.1', 'a1', 'up', 21], ['worker.2', 'a2', 'stopping', 32], ['worker.3', 'a2', 'up', 33], ['worker.4', 'a3', 'up', 44]],
    );
    assert.equal(reported.find((r) => r.instance === 'web.1')!.status.agentId, 'a1', 'the agent id comes from the key');
    assert.deepEqual(await reader.reportingAgents('shop', 'worker.9'), [], 'a stale record names no host');
    assert.deepEqual(await reader.reportingAgents('shop', 'worker.2'), ['a2']);
  });

  it('reads the unplaced list the leader writes; none when it wrote nothing', async () => {
    const keys = new Keys(uniquePrefix());
    const reader = new InstanceStatusReader(etcd.client, keys);
    assert.deepEqual(await reader.unplaced('shop'), []);
    const list = [{ app: 'shop', instance: 'web.3', type: 'web', reason: 'no agent has room' }];
    await etcd.client.put(keys.unplaced('shop')).value(encodeUnplaced(list));
    assert.deepEqual(await reader.unplaced('shop'), list);
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
    const numbers = await Promise.all(Array.from({ length: 8 }, () => nextRunNumber(etcd.client, keys, 'shop')));
    assert.deepEqual([...numbers].sort((a, b) => a - b), [1, 2, 3, 4, 5, 6, 7, 8]);
    assert.equal((await readRunCounter(etcd.client, keys, 'shop')).next, 9);
  });
});
