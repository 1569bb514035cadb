/** `cluster dev` at start, against a real etcd: the earlier run's leases end, what is not under one stays. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { endEarlierLeases } from '../../cli/dev/earlier-leases';
import { Keys } from '../../control-plane/keys';
import { exitWhenDone, useEtcd } from '../helpers/etcd';

exitWhenDone();

describe('cluster dev: the earlier run\'s leases', { timeout: 60_000 }, () => {
  const etcd = useEtcd();

  it('revokes every lease, and keeps the assignments (under none)', async () => {
    const keys = new Keys(); // dev's control plane runs with the default prefix
    const registration = etcd.client.lease(60, { autoKeepAlive: false });
    const logSources = etcd.client.lease(60, { autoKeepAlive: false });
    await registration.put(keys.agent('agent-1')).value('{}');
    await registration.put(keys.status('shop', 'worker.1', 'agent-1')).value('{}');
    const logLease = await logSources.grant();
    await logSources.put(keys.logLease('agent-1')).value(logLease);
    await logSources.put(keys.logSource('shop', 'agent-1')).value('{}');
    await etcd.client.put(keys.assignment('agent-1', 'shop', 'worker.1')).value('{}');

    assert.equal(await endEarlierLeases(etcd.url), 2);
    assert.equal(await etcd.client.get(keys.agent('agent-1')), null, 'the registration is gone');
    assert.equal(await etcd.client.get(keys.status('shop', 'worker.1', 'agent-1')), null, 'its status is gone');
    assert.equal(await etcd.client.get(keys.logSource('shop', 'agent-1')), null, 'its log source is gone (written again at its next registration)');
    assert.equal(await etcd.client.get(keys.assignment('agent-1', 'shop', 'worker.1')), '{}', 'its instance is still assigned to it');
    assert.equal(await endEarlierLeases(etcd.url), 0, 'nothing left to end');
  });
});
