/**
 * `ps` of an app destroyed and created again while an agent still stops the old app's process of
 * the same name: the new app's instance shows as starting, saying what it waits for, never the
 * old process's pid and `stopping`; a running process that merely seems older (the agent's clock
 * behind the control plane's) is still shown as it is.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AppStore } from '../../control-plane/state/app-store';
import { ClusterView } from '../../control-plane/state/cluster-view';
import { Keys } from '../../control-plane/keys';
import { psFromEtcd } from '../../control-plane/api/processes';
import { encode, type AgentRecord } from '../../control-plane/records';
import type { Assignment } from '../../control-plane/scheduler/types';
import type { ApiContext } from '../../control-plane/rpc/context';
import { createLogger } from '../../lib/log';
import { useEtcd, uniquePrefix } from '../helpers/etcd';
import { waitFor } from '../helpers/wait-for';

describe('ps of an app created again', { timeout: 60_000 }, () => {
  const etcd = useEtcd();

  it('shows its instance as starting while the destroyed app\'s process of that name stops there', async () => {
    const keys = new Keys(uniquePrefix());
    const store = new AppStore(etcd.client, keys);
    const app = await store.createApp('shop');
    const release = await store.createRelease('shop', { slug: 'a'.repeat(64), processTypes: { worker: 'sh worker.sh' }, description: 'Deploy' });
    await store.scale('shop', [{ type: 'worker', count: 2 }]);
    const agent: AgentRecord = { id: 'a1', address: '127.0.0.1:1', datacenter: 'dc1', labels: {}, capacity: 0, version: 'test', registeredAtMs: Date.now(), state: 'ready' };
    await etcd.client.put(keys.agent('a1')).value(encode(agent));
    for (const instance of ['worker.1', 'worker.2']) {
      const a: Assignment = { agentId: 'a1', app: 'shop', instance, type: 'worker', release: release.version, slug: 'a'.repeat(64), restartToken: '', graceMs: 30_000 };
      await etcd.client.put(keys.assignment('a1', 'shop', instance)).value(encode(a));
    }
    const before = app.createdAtMs - 10_000;
    // worker.1: the destroyed app's process, in its stop grace; worker.2: this app's, up, on a clock behind.
    await etcd.client.put(keys.status('shop', 'worker.1', 'a1')).value(encode({ agentId: 'a1', state: 'stopping', pid: 999, startedAtMs: before, restarts: 0, reason: '', release: 1 }));
    await etcd.client.put(keys.status('shop', 'worker.2', 'a1')).value(encode({ agentId: 'a1', state: 'up', pid: 1001, startedAtMs: before, restarts: 0, reason: '', release: release.version }));

    const view = await ClusterView.open(etcd.client, keys, createLogger('test', 'silent'));
    try {
      await waitFor('the view to see 2 assignments', () => view.assignmentList({ app: 'shop' }).length === 2, 10_000);
      const ctx = { store, keys, client: etcd.client, view, logger: createLogger('test', 'silent') } as unknown as ApiContext;
      const ps = await psFromEtcd(ctx, 'shop');
      assert.deepEqual(
        ps.instances?.map((i) => [i.name, i.state, i.pid ?? 0, i.reason]),
        [
          ['worker.1', 'starting', 0, "assigned; the destroyed app's worker.1 (pid 999) is still stopping there"],
          ['worker.2', 'up', 1001, ''],
        ],
      );
    } finally {
      await view.close();
    }
  });
});
