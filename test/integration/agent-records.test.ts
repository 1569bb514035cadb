/**
 * AgentRecords (control-plane/state/agent-records.ts) against a real etcd: `agents:remove`
 * forgets an agent only while it is not registered, and ends its log-source lease.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Keys } from '../../control-plane/keys';
import { AgentRecords } from '../../control-plane/state/agent-records';
import { exitWhenDone, uniquePrefix, useEtcd } from '../helpers/etcd';

exitWhenDone();

describe('agent records: removal of an agent that is gone', { timeout: 30_000 }, () => {
  const etcd = useEtcd();

  it('refuses while the agent is registered, and forgets its known record, drain and toggle once it is not', async () => {
    const keys = new Keys(uniquePrefix());
    const records = new AgentRecords(etcd.client, keys);
    const lease = etcd.client.lease(30, { autoKeepAlive: false });
    await lease.put(keys.agent('h1')).value('{}');
    for (const key of [keys.knownAgent('h1'), keys.drain('h1'), keys.webToggle('h1')]) await etcd.client.put(key).value('{}');

    assert.equal(await records.removeWhileGone('h1'), undefined, 'registered: nothing removed');
    assert.equal(await etcd.client.get(keys.knownAgent('h1')).string(), '{}');

    await lease.revoke();
    const revision = await records.removeWhileGone('h1');
    assert.ok(revision !== undefined && Number(revision) > 0, String(revision));
    for (const key of [keys.knownAgent('h1'), keys.drain('h1'), keys.webToggle('h1')]) {
      assert.equal(await etcd.client.get(key).string(), null, `${key} removed`);
    }
  });

  it('ends the log-source lease and the log sources under it; nothing to end is no error', async () => {
    const keys = new Keys(uniquePrefix());
    const records = new AgentRecords(etcd.client, keys);
    const lease = etcd.client.lease(3600, { autoKeepAlive: false });
    const id = await lease.grant();
    await lease.put(keys.logLease('h2')).value(id);
    await lease.put(keys.logSource('shop', 'h2')).value('');
    await records.forgetLogSources('h2');
    assert.equal(await etcd.client.get(keys.logLease('h2')).string(), null);
    assert.equal(await etcd.client.get(keys.logSource('shop', 'h2')).string(), null);
    await records.forgetLogSources('h2');
    // A lease id whose lease is gone already (written by hand, or expired meanwhile).
    await etcd.client.put(keys.logLease('h3')).value('7587890123456789');
    await records.forgetLogSources('h3');
  });
});
