import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { limitRollout, rolloutBound, type ObservedStatus } from '../../control-plane/leader/rollout';
import type { Assignment, Plan } from '../../control-plane/scheduler/types';

const assignment = (instance: string, release: number, agentId = 'a'): Assignment => ({
  agentId, app: 'shop', instance, type: instance.split('.')[0]!, release, slug: 's', restartToken: '', graceMs: 0,
});
const workers = (n: number, release: number) => Array.from({ length: n }, (_, i) => assignment(`worker.${i + 1}`, release));

function run(current: Assignment[], put: Assignment[], statuses: Record<string, ObservedStatus>, count = current.length) {
  const plan: Plan = { put, remove: [], unplaced: [] };
  return limitRollout(plan, current, (a) => statuses[a.instance], () => count);
}
const up = (release: number): ObservedStatus => ({ state: 'up', release, restartToken: '' });

describe('rolling restarts', () => {
  it('allows 1 web and a quarter of other types at once', () => {
    assert.equal(rolloutBound('web', 10), 1);
    assert.equal(rolloutBound('worker', 8), 2);
    assert.equal(rolloutBound('worker', 3), 1);
  });

  it('releases a quarter of 8 workers when all are up on the old release', () => {
    const current = workers(8, 1);
    const statuses = Object.fromEntries(current.map((a) => [a.instance, up(1)]));
    const { plan, deferred } = run(current, workers(8, 2), statuses);
    assert.deepEqual(plan.put.map((a) => a.instance), ['worker.1', 'worker.2']);
    assert.equal(deferred, 6);
  });

  it('waits while instances have not come up on what they were assigned', () => {
    const current = [...workers(2, 2), ...workers(8, 1).slice(2)];
    const statuses: Record<string, ObservedStatus> = Object.fromEntries(current.map((a) => [a.instance, up(1)]));
    statuses['worker.1'] = up(2); // done
    statuses['worker.2'] = { state: 'stopping', release: 1, restartToken: '' }; // still restarting
    const { plan, deferred } = run(current, workers(8, 2).slice(2), statuses, 8);
    assert.deepEqual(plan.put.map((a) => a.instance), ['worker.3']);
    assert.equal(deferred, 5);
  });

  it('never holds back instances known not to be up, new placements or removals; the up ones wait for them', () => {
    const current = workers(4, 1);
    const statuses: Record<string, ObservedStatus> = {
      'worker.1': up(1), 'worker.2': up(1), 'worker.3': { state: 'crashed', release: 1, restartToken: '' },
    }; // worker.4: no status (not known to be down): paced like worker.1
    const fresh = assignment('worker.5', 2, 'b');
    const { plan, deferred } = limitRollout(
      { put: [...workers(4, 2), fresh], remove: [{ agentId: 'a', app: 'shop', instance: 'worker.9' }], unplaced: [] },
      current, (a) => statuses[a.instance], () => 5,
    );
    // worker.3 restarts now and takes the bound (1 of 5): worker.1, .2 and .4 wait for it.
    assert.deepEqual(plan.put.map((a) => a.instance).sort(), ['worker.3', 'worker.5']);
    assert.equal(deferred, 3);
    assert.equal(plan.remove.length, 1);
  });

  it('a fix for a crash-looping web does not restart the web that serves in the same round', () => {
    const webs = [assignment('web.1', 1), assignment('web.2', 1)];
    const statuses: Record<string, ObservedStatus> = { 'web.1': { state: 'crashed', release: 1, restartToken: '' }, 'web.2': up(1) };
    const { plan, deferred } = limitRollout({ put: webs.map((a) => ({ ...a, release: 2 })), remove: [], unplaced: [] }, webs, (a) => statuses[a.instance], () => 2);
    assert.deepEqual(plan.put.map((a) => a.instance), ['web.1']);
    assert.equal(deferred, 1);
  });

  it('lets an instance that is starting restart at once', () => {
    const current = workers(4, 1);
    const statuses: Record<string, ObservedStatus> = {
      'worker.1': up(1), 'worker.2': up(1), 'worker.3': up(1), 'worker.4': { state: 'starting', release: 1, restartToken: '' },
    };
    const fresh = assignment('worker.5', 2, 'b');
    const { plan } = limitRollout(
      { put: [...workers(4, 2), fresh], remove: [{ agentId: 'a', app: 'shop', instance: 'worker.9' }], unplaced: [] },
      current, (a) => statuses[a.instance], () => 5,
    );
    assert.deepEqual(plan.put.map((a) => a.instance).sort(), ['worker.4', 'worker.5'], 'worker.4 counts against the bound');
  });

  it('paces instances nobody reports as if they were up (their statuses went with a lease)', () => {
    // A control-plane outage longer than the agents' TTL in the middle of a deploy: no status at all.
    const webs = Array.from({ length: 6 }, (_, i) => assignment(`web.${i + 1}`, 1));
    const next = webs.map((a) => ({ ...a, release: 2 }));
    const { plan, deferred } = limitRollout({ put: next, remove: [], unplaced: [] }, webs, () => undefined, () => 6);
    assert.deepEqual(plan.put.map((a) => a.instance), ['web.1'], 'one at a time, not all six');
    assert.equal(deferred, 5);
    // Once they report up again, the rollout goes on one at a time.
    const statuses = Object.fromEntries(webs.map((a) => [a.instance, up(1)]));
    assert.deepEqual(run(webs, next, statuses, 6).plan.put.map((a) => a.instance), ['web.1']);
  });

  it('stops a rollout at an instance that crashed (or failed its boot check) on the new release', () => {
    const current = [...workers(1, 2), ...workers(4, 1).slice(1)];
    const statuses: Record<string, ObservedStatus> = Object.fromEntries(current.map((a) => [a.instance, up(1)]));
    statuses['worker.1'] = { state: 'crashed', release: 2, restartToken: '' }; // rolled, then failed
    const { plan, deferred } = run(current, workers(4, 2).slice(1), statuses, 4);
    assert.deepEqual(plan.put, [], 'the old instances keep serving');
    assert.equal(deferred, 3);
    statuses['worker.1'] = up(2); // passed after all
    assert.deepEqual(run(current, workers(4, 2).slice(1), statuses, 4).plan.put.map((a) => a.instance), ['worker.2']);
  });
});
