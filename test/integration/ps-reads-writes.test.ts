/**
 * `ps` right after `scale` shows the formation just written, even on a replica whose mirror has
 * not seen it yet: `scale --wait` polls `ps` at once and must never count the old formation as
 * reached (docs/high-availability.md#reads-after-writes).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AppStore } from '../../control-plane/state/app-store';
import { ClusterView } from '../../control-plane/state/cluster-view';
import { Keys } from '../../control-plane/keys';
import { psFromEtcd } from '../../control-plane/api/processes';
import type { ApiContext } from '../../control-plane/rpc/context';
import { createLogger } from '../../lib/log';
import { useEtcd, uniquePrefix } from '../helpers/etcd';
import { waitFor } from '../helpers/wait-for';

describe('ps after scale', { timeout: 60_000 }, () => {
  const etcd = useEtcd();

  it('shows the formation stored in etcd, not the one a lagging mirror last saw', async () => {
    const logger = createLogger('test', 'silent');
    const keys = new Keys(uniquePrefix());
    const store = new AppStore(etcd.client, keys);
    await store.createApp('shop');
    await store.createRelease('shop', { slug: 'a'.repeat(64), processTypes: { worker: 'sh worker.sh' }, description: 'Deploy' });
    await store.scale('shop', [{ type: 'worker', count: 2 }]);

    // A replica's view that saw worker=2 and then stopped following etcd (a watch that lags).
    const view = await ClusterView.open(etcd.client, keys, logger);
    await waitFor('the view sees worker=2', () => view.formation('shop').counts.worker === 2, 10_000);
    await view.close();
    await store.scale('shop', [{ type: 'worker', count: 4 }]);
    assert.equal(view.formation('shop').counts.worker, 2, 'the view is behind, as the test needs');

    const ctx = { store, keys, client: etcd.client, view, logger } as unknown as ApiContext;
    const ps = await psFromEtcd(ctx, 'shop');
    assert.deepEqual(ps.formation, [{ type: 'worker', count: 4 }]);
    assert.deepEqual(
      ps.instances?.map((i) => [i.name, i.state]),
      [['worker.1', 'pending'], ['worker.2', 'pending'], ['worker.3', 'pending'], ['worker.4', 'pending']],
    );
  });
});
