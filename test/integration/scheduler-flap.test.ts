/**
 * Leadership that flaps (deposed and elected again while the scheduler still opens its views, as
 * when etcd is unwell) leaves one scheduler running on open views: never two, never none.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SchedulerLoop } from '../../control-plane/leader/scheduler-loop';
import { ClusterView } from '../../control-plane/state/cluster-view';
import type { LeaderElection } from '../../control-plane/leader/election';
import type { PrefixMirror } from '../../control-plane/etcd/mirror';
import { Keys } from '../../control-plane/keys';
import { createLogger } from '../../lib/log';
import { useEtcd, uniquePrefix } from '../helpers/etcd';

describe('scheduler start and stop', { timeout: 60_000 }, () => {
  const etcd = useEtcd();

  it('start, stop and start again at once: one set of listeners, and its own views stay open', async () => {
    const logger = createLogger('test', 'silent');
    const view = await ClusterView.open(etcd.client, new Keys(uniquePrefix()), logger);
    // No app: a round writes nothing, so the election is never asked for its fence.
    const loop = new SchedulerLoop(etcd.client, view, {} as LeaderElection, logger, { agentDownGraceMs: 60_000 });
    const own = () => loop as unknown as { statuses?: { mirror: PrefixMirror }; unplaced?: PrefixMirror };
    // The view follows the agents itself (when each one's registration went).
    const viewsOwn = view.agents.listenerCount('change');
    try {
      const first = loop.start();
      const deposed = loop.stop();
      await loop.start();
      await Promise.all([first, deposed]);
      assert.equal(view.apps.listenerCount('change'), 1, 'one scheduler follows the apps');
      assert.equal(view.agents.listenerCount('change'), viewsOwn + 1, 'one scheduler follows the agents');
      const { statuses, unplaced } = own();
      assert.ok(statuses && unplaced, 'the running scheduler has its views');
      // Give a stop that was still in flight every chance to close them (it must not).
      await loop.start();
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(own().statuses, statuses, 'the same views, still held');
      // The scheduler's own, and the index of per-instance records (leader/observed-statuses.ts).
      assert.equal(statuses.mirror.listenerCount('change'), 2);
      await loop.stop();
      assert.equal(view.apps.listenerCount('change'), 0, 'stopped: no listener left');
      assert.equal(own().statuses, undefined, 'stopped: its views closed');
    } finally {
      await loop.stop();
      await view.close();
    }
  });
});
