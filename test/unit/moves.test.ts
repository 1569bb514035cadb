import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { holdMoves, moveKey, type MoveHoldOptions } from '../../control-plane/leader/moves';
import type { ObservedStatus } from '../../control-plane/leader/rollout';
import { schedule } from '../../control-plane/scheduler/schedule';
import type { AgentView, AppView, Assignment, Plan } from '../../control-plane/scheduler/types';

const assignment = (instance: string, agentId: string, release = 1): Assignment => ({
  agentId, app: 'shop', instance, type: instance.split('.')[0]!, release, slug: 's', restartToken: '', graceMs: 0,
});
const removal = (a: Assignment) => ({ agentId: a.agentId, app: a.app, instance: a.instance });
const up = (release = 1): ObservedStatus => ({ state: 'up', release, restartToken: '' });
const starting: ObservedStatus = { state: 'starting', release: 1, restartToken: '' };

function options(statuses: Record<string, ObservedStatus>, over: Partial<MoveHoldOptions> = {}): MoveHoldOptions {
  return {
    observed: (a) => statuses[moveKey(a)],
    isLive: (id) => id !== 'lost',
    isDraining: (id) => id === 'old',
    heldForMs: () => 0,
    maxHoldMs: 60_000,
    ...over,
  };
}

const kept = (plan: Plan) => plan.remove.map((r) => `${r.instance}@${r.agentId}`);

describe('moves: new copies up before old ones stop', () => {
  const old1 = assignment('web.1', 'old');
  const new1 = assignment('web.1', 'new');

  it('holds the removal from a drained agent while the new copy is placed but not up', () => {
    const plan: Plan = { put: [new1], remove: [removal(old1)], unplaced: [] };
    const res = holdMoves(plan, [old1], options({}));
    assert.deepEqual(res.plan.remove, []);
    assert.deepEqual(res.plan.put, [new1], 'the new copy is placed at once');
    assert.deepEqual(res.held, ['old/shop/web.1']);
  });

  it('keeps holding while the new copy is starting, and lets go once it is up', () => {
    const plan: Plan = { put: [], remove: [removal(old1)], unplaced: [] };
    assert.deepEqual(holdMoves(plan, [old1, new1], options({ 'new/shop/web.1': starting })).plan.remove, []);
    assert.deepEqual(holdMoves(plan, [old1, new1], options({ 'new/shop/web.1': { ...up(), state: 'crashed' } })).plan.remove, []);
    assert.deepEqual(kept(holdMoves(plan, [old1, new1], options({ 'new/shop/web.1': up() })).plan), ['web.1@old']);
  });

  it('does not count a new copy that is up on another release than it was assigned', () => {
    const plan: Plan = { put: [], remove: [removal(old1)], unplaced: [] };
    const new2 = assignment('web.1', 'new', 2);
    assert.deepEqual(holdMoves(plan, [old1, new2], options({ 'new/shop/web.1': up(1) })).plan.remove, []);
    // A re-put in the same plan is what will run: its status does not match yet.
    const replan: Plan = { put: [new2], remove: [removal(old1)], unplaced: [] };
    assert.deepEqual(holdMoves(replan, [old1, new1], options({ 'new/shop/web.1': up(1) })).plan.remove, []);
  });

  it('removes at once from a lost agent, and instances no longer desired', () => {
    const lost = assignment('web.1', 'lost');
    const gone = assignment('worker.3', 'old');
    const plan: Plan = { put: [new1], remove: [removal(lost), removal(gone)], unplaced: [] };
    assert.deepEqual(kept(holdMoves(plan, [lost, gone], options({})).plan), ['web.1@lost', 'worker.3@old']);
  });

  it('removes both copies of an instance scaled away in the middle of its move', () => {
    const plan: Plan = { put: [], remove: [removal(old1), removal(new1)], unplaced: [] };
    assert.deepEqual(kept(holdMoves(plan, [old1, new1], options({})).plan), ['web.1@old', 'web.1@new']);
  });

  it('keeps an instance on a drained agent when it fits nowhere else, but not on a ready one', () => {
    const fromReady = assignment('web.2', 'ready');
    const plan: Plan = {
      put: [],
      remove: [removal(old1), removal(fromReady)],
      unplaced: [
        { app: 'shop', instance: 'web.1', type: 'web', reason: 'no agent with free capacity' },
        { app: 'shop', instance: 'web.2', type: 'web', reason: 'no agent matches the placement rule of `web` (role=web)' },
      ],
    };
    const res = holdMoves(plan, [old1, fromReady], options({}));
    assert.deepEqual(kept(res.plan), ['web.2@ready'], 'a rule that allows no agent stops the instance');
    assert.deepEqual(res.held, ['old/shop/web.1']);
  });

  it('removes at once an old copy its agent reports not up: it serves nothing to take over', () => {
    const plan: Plan = { put: [], remove: [removal(old1)], unplaced: [] };
    for (const state of ['crashed', 'starting', 'stopping']) {
      const statuses = { 'old/shop/web.1': { ...up(), state }, 'new/shop/web.1': starting };
      const res = holdMoves(plan, [old1, new1], options(statuses));
      assert.deepEqual(kept(res.plan), ['web.1@old'], `old copy ${state}`);
      assert.deepEqual(res.held, []);
    }
    // Up, even on an older release than the new copy's (a rollout under way), or not reported yet: held.
    assert.deepEqual(holdMoves(plan, [old1, new1], options({ 'old/shop/web.1': up(0), 'new/shop/web.1': starting })).held, ['old/shop/web.1']);
    assert.deepEqual(holdMoves(plan, [old1, new1], options({ 'new/shop/web.1': starting })).held, ['old/shop/web.1']);
  });

  it('lets the old copy go when the new one has not come up within the bound', () => {
    const plan: Plan = { put: [], remove: [removal(old1)], unplaced: [] };
    const res = holdMoves(plan, [old1, new1], options({ 'new/shop/web.1': starting }, { heldForMs: () => 60_000 }));
    assert.deepEqual(kept(res.plan), ['web.1@old']);
    assert.deepEqual(res.expired, ['old/shop/web.1']);
  });

  it('holds a move forced by a new placement rule too (from a live, ready agent)', () => {
    const wrong = assignment('web.1', 'plain');
    const plan: Plan = { put: [new1], remove: [removal(wrong)], unplaced: [] };
    assert.deepEqual(holdMoves(plan, [wrong], options({})).held, ['plain/shop/web.1']);
  });
});

describe('moves: with the scheduler, a drain converges through a moment of two copies', () => {
  const agents = (drained: boolean): AgentView[] => [
    { id: 'a1', datacenter: 'dc', labels: {}, capacity: 10, state: drained ? 'draining' : 'ready' },
    { id: 'a2', datacenter: 'dc', labels: {}, capacity: 10, state: 'ready' },
  ];
  const shop: AppView = {
    name: 'shop',
    release: { version: 1, slug: 's', processTypes: { web: 'w', worker: 'k' }, env: {} },
    formation: { web: 2, worker: 2 },
    restartTokens: {},
  };
  const apply = (assignments: Assignment[], plan: Plan) => {
    const byKey = new Map(assignments.map((a) => [moveKey(a), a]));
    for (const r of plan.remove) byKey.delete(moveKey(r));
    for (const p of plan.put) byKey.set(moveKey(p), p);
    return [...byKey.values()];
  };

  it('never has fewer than the formation up, and ends with nothing on the drained agent', () => {
    let assignments = apply([], schedule({ apps: [shop], agents: agents(false), assignments: [] }));
    const upKeys = new Set(assignments.map(moveKey)); // everything placed so far is up
    const opts = (): MoveHoldOptions => ({
      observed: (a) => (upKeys.has(moveKey(a)) ? { state: 'up', release: a.release, restartToken: a.restartToken } : undefined),
      isLive: () => true,
      isDraining: (id) => id === 'a1',
      heldForMs: () => 0,
      maxHoldMs: 60_000,
    });
    for (let round = 0; round < 5; round++) {
      const input = { apps: [shop], agents: agents(true), assignments };
      const { plan } = holdMoves(schedule(input), assignments, opts());
      assignments = apply(assignments, plan);
      const upNow = new Set(assignments.filter((a) => upKeys.has(moveKey(a))).map((a) => a.instance));
      assert.equal(upNow.size, 4, `round ${round}: every instance has a copy up`);
      // The new copies come up between rounds.
      for (const a of assignments) upKeys.add(moveKey(a));
    }
    assert.deepEqual(assignments.filter((a) => a.agentId === 'a1'), []);
    assert.equal(assignments.length, 4);
  });
});
