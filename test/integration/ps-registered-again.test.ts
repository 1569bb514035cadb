/**
 * `ps` after an agent registered again: its statuses went with its old lease (etcd or every
 * replica away longer than the TTL), and it keeps its instances, so until it reports them they
 * are `unknown`, not `starting` as an instance just placed is (docs/high-availability.md,
 * "Liveness and failover grace").
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AppStore } from '../../control-plane/state/app-store';
import { ClusterView } from '../../control-plane/state/cluster-view';
import { Keys } from '../../control-plane/keys';
import { psFromEtcd } from '../../control-plane/api/processes';
import { encode, type AgentRecord } from '../../control-plane/records';
import type { Assignment } from '../../control-plane/scheduler/types';
import { encodePackedAssignments } from '../../control-plane/state/packed-assignments';
import type { ApiContext } from '../../control-plane/rpc/context';
import { createLogger } from '../../lib/log';
import { useEtcd, uniquePrefix } from '../helpers/etcd';
import { waitFor } from '../helpers/wait-for';

describe('ps after an agent registered again', { timeout: 60_000 }, () => {
  const etcd = useEtcd();

  for (const layout of ['per instance', 'packed'] as const) {
    it(`shows what it ran before as unknown until it reports, and what was placed since as starting (assignments ${layout})`, async () => {
      const keys = new Keys(uniquePrefix());
      const store = new AppStore(etcd.client, keys);
      await store.createApp('shop');
      const release = await store.createRelease('shop', { slug: 'a'.repeat(64), processTypes: { worker: 'sh worker.sh' }, description: 'Deploy' });
      await store.scale('shop', [{ type: 'worker', count: 3 }]);
      const agent: AgentRecord = { id: 'a1', address: '127.0.0.1:1', datacenter: 'dc1', labels: {}, capacity: 0, version: 'test', registeredAtMs: Date.now(), state: 'ready' };
      // Packed, each write rewrites the agent's value, naming the revision of the instances written before.
      const packed: Array<{ assignment: Assignment; since?: number }> = [];
      const assign = async (instance: string) => {
        const a: Assignment = { agentId: 'a1', app: 'shop', instance, type: 'worker', release: release.version, slug: 'a'.repeat(64), restartToken: '', graceMs: 30_000 };
        if (layout === 'per instance') return etcd.client.put(keys.assignment('a1', 'shop', instance)).value(encode(a));
        const res = await etcd.client.put(keys.packedAssignments('a1', 'shop')).value(encodePackedAssignments([...packed, { assignment: a }]));
        packed.push({ assignment: a, since: Number(res.header.revision) });
        return res;
      };

      // worker.1 and worker.2 were placed under the agent's first registration; then its lease
      // ran out (the registration went with it) and it registered again; worker.3 came after.
      await etcd.client.put(keys.agent('a1')).value(encode(agent));
      await assign('worker.1');
      await assign('worker.2');
      await etcd.client.delete().key(keys.agent('a1'));
      await etcd.client.put(keys.agent('a1')).value(encode({ ...agent, registeredAtMs: Date.now() }));
      await assign('worker.3');

      const logger = createLogger('test', 'silent');
      const view = await ClusterView.open(etcd.client, keys, logger);
      try {
        await waitFor('the view to see 3 assignments', () => view.assignmentList({ app: 'shop' }).length === 3, 10_000);
        const ctx = { store, keys, client: etcd.client, view, logger } as unknown as ApiContext;
        const ps = await psFromEtcd(ctx, 'shop');
        assert.deepEqual(
          ps.instances?.map((i) => [i.name, i.host, i.state, i.reason]),
          [
            ['worker.1', 'a1', 'unknown', 'a1 registered again; waiting for it to report'],
            ['worker.2', 'a1', 'unknown', 'a1 registered again; waiting for it to report'],
            ['worker.3', 'a1', 'starting', 'assigned; waiting for the agent to report'],
          ],
        );

        // Its report of worker.1 shows as reported.
        const status = { agentId: 'a1', state: 'up', pid: 4242, startedAtMs: Date.now() - 60_000, restarts: 0, reason: '', release: release.version };
        await etcd.client.put(keys.status('shop', 'worker.1', 'a1')).value(encode(status));
        const after = await psFromEtcd(ctx, 'shop');
        assert.deepEqual(after.instances?.map((i) => [i.name, i.state]), [['worker.1', 'up'], ['worker.2', 'unknown'], ['worker.3', 'starting']]);
      } finally {
        await view.close();
      }
    });
  }
});
