import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AgentLiveness } from '../../control-plane/leader/agent-liveness';
import { schedule } from '../../control-plane/scheduler/schedule';
import { WAITING_FOR_AGENTS } from '../../control-plane/scheduler/agent-pool';
import type { AgentView, AppView, Assignment, Plan } from '../../control-plane/scheduler/types';

const GRACE = 8_000;

describe('agent liveness', () => {
  it('declares nobody down before leadership has started (a round poked while it begins)', () => {
    const live = new AgentLiveness(GRACE);
    assert.deepEqual(live.classify(new Set(['a']), ['a', 'b'], 100_000), { unreachable: ['b'], down: [] });
    live.start(100_000);
    assert.deepEqual(live.classify(new Set(['a']), ['a', 'b'], 100_001).down, [], 'the whole grace from the start');
    assert.deepEqual(live.classify(new Set(['a']), ['a', 'b'], 108_000).down, ['b']);
  });

  it('keeps a missing agent unreachable until the leader has led for the whole grace', () => {
    const live = new AgentLiveness(GRACE);
    live.start(1_000);
    assert.deepEqual(live.classify(new Set(['a']), ['a', 'b'], 1_000), { unreachable: ['b'], down: [], nextDeadlineMs: 9_000 });
    assert.deepEqual(live.classify(new Set(['a']), ['a', 'b'], 8_999).unreachable, ['b']);
    assert.deepEqual(live.classify(new Set(['a']), ['b', 'a', 'b'], 9_000), { unreachable: [], down: ['b'] });
  });

  it('keeps an agent with a live restart hold unreachable past the grace; once the hold is gone it is down at once', () => {
    const live = new AgentLiveness(GRACE);
    live.start(0);
    const held = new Set(['b']);
    // Gone at 20 s under a leader that has led for the grace: held, not down; a hold ends by a watch event, not a deadline.
    assert.deepEqual(live.classify(new Set(), ['b'], 20_000, held), { unreachable: ['b'], down: [] });
    assert.deepEqual(live.classify(new Set(), ['b'], 34_000, held), { unreachable: ['b'], down: [] });
    assert.deepEqual(live.classify(new Set(), ['b'], 35_000), { unreachable: [], down: ['b'] });
    // A hold of an agent that is registered, or owns nothing, changes nothing.
    assert.deepEqual(live.classify(new Set(['c']), ['c'], 36_000, new Set(['c', 'd'])), { unreachable: [], down: [] });
  });

  it('declares an agent down at once when it goes missing under a leader that has led for the grace', () => {
    const live = new AgentLiveness(GRACE);
    live.start(0);
    assert.deepEqual(live.classify(new Set(['b']), ['b'], 9_000), { unreachable: [], down: [] });
    assert.deepEqual(live.classify(new Set(), ['b'], 10_000), { unreachable: [], down: ['b'] });
  });

  it('gives every missing agent the whole grace again after a leader change, whatever the outage before', () => {
    const live = new AgentLiveness(GRACE);
    live.start(0);
    assert.deepEqual(live.classify(new Set(), ['b'], 1_000).unreachable, ['b']);
    assert.deepEqual(live.classify(new Set(), ['b'], 8_000).down, ['b']);
    // Deposed and elected again (or another replica): the clock starts over.
    live.start(60_000);
    assert.deepEqual(live.classify(new Set(), ['b'], 60_000), { unreachable: ['b'], down: [], nextDeadlineMs: 68_000 });
  });

  it('forgets an agent that registered again within the grace; missing again later, it is down at once', () => {
    const live = new AgentLiveness(GRACE);
    live.start(0);
    live.classify(new Set(), ['b'], 0);
    assert.deepEqual(live.classify(new Set(['b']), ['b'], 7_000), { unreachable: [], down: [] });
    assert.deepEqual(live.classify(new Set(), ['b'], 7_500), { unreachable: ['b'], down: [], nextDeadlineMs: 8_000 });
    assert.deepEqual(live.classify(new Set(['b']), ['b'], 7_900), { unreachable: [], down: [] });
    assert.deepEqual(live.classify(new Set(), ['b'], 12_000), { unreachable: [], down: ['b'] });
  });

  it('gives every missing agent the whole grace again from the end of an etcd outage', () => {
    const live = new AgentLiveness(GRACE);
    live.start(0);
    assert.deepEqual(live.classify(new Set(['b']), ['b'], 20_000), { unreachable: [], down: [] });
    // etcd was unreachable until 30 s: b's lease expired meanwhile although b heartbeated.
    live.heardNothingAt(30_000);
    assert.deepEqual(live.classify(new Set(), ['b'], 30_500), { unreachable: ['b'], down: [], nextDeadlineMs: 38_000 });
    // An older outage changes nothing.
    live.heardNothingAt(10_000);
    assert.deepEqual(live.classify(new Set(), ['b'], 37_999).unreachable, ['b']);
    assert.deepEqual(live.classify(new Set(), ['b'], 38_000), { unreachable: [], down: ['b'] });
  });

  it('ignores agents that own nothing', () => {
    const live = new AgentLiveness(GRACE);
    live.start(0);
    assert.deepEqual(live.classify(new Set(['a']), [], 100_000), { unreachable: [], down: [] });
  });
});

function agent(id: string, state: AgentView['state'] = 'ready', labels: Record<string, string> = {}): AgentView {
  return { id, datacenter: 'dc-a', labels, capacity: 100, state };
}

const shop: AppView = {
  name: 'shop',
  release: { version: 1, slug: 's1', processTypes: { worker: 'sh worker.sh' }, env: {} },
  formation: { worker: 6 },
  restartTokens: {},
};

function converged(agents: AgentView[], app: AppView = shop): Assignment[] {
  return schedule({ apps: [app], agents, assignments: [] }).put;
}

const empty = (plan: Plan) => plan.put.length === 0 && plan.remove.length === 0 && plan.unplaced.length === 0;

describe('scheduling with unreachable agents', () => {
  it('keeps the instances of an unreachable agent where they are and places nothing twice', () => {
    const assignments = converged([agent('a'), agent('b'), agent('c')]);
    const plan = schedule({ apps: [shop], agents: [agent('a'), agent('b', 'unreachable'), agent('c')], assignments });
    assert.ok(empty(plan), JSON.stringify(plan));
  });

  it('keeps them even when its labels are unknown (never seen by this leader) and the type has a placement rule', () => {
    const placed = { ...shop, placement: { worker: { labels: { role: 'worker' } } } };
    const assignments = converged([agent('a', 'ready', { role: 'worker' }), agent('b', 'ready', { role: 'worker' })], placed);
    const plan = schedule({ apps: [placed], agents: [agent('a', 'ready', { role: 'worker' }), agent('b', 'unreachable')], assignments });
    assert.ok(empty(plan), JSON.stringify(plan));
  });

  it('places new instances only on ready agents', () => {
    const assignments = converged([agent('a'), agent('b')]);
    const plan = schedule({ apps: [{ ...shop, formation: { worker: 10 } }], agents: [agent('a'), agent('b', 'unreachable')], assignments });
    assert.equal(plan.remove.length, 0);
    assert.equal(plan.put.length, 4);
    assert.ok(plan.put.every((p) => p.agentId === 'a'));
  });

  it('still scales down on an unreachable agent', () => {
    const assignments = converged([agent('a'), agent('b')]);
    const plan = schedule({ apps: [{ ...shop, formation: { worker: 2 } }], agents: [agent('a'), agent('b', 'unreachable')], assignments });
    assert.equal(plan.put.length, 0);
    assert.equal(plan.remove.length, 4);
  });

  it('says it waits for agents to reconnect when only unreachable agents are known', () => {
    const assignments = converged([agent('a')]);
    const plan = schedule({ apps: [{ ...shop, formation: { worker: 8 } }], agents: [agent('a', 'unreachable')], assignments });
    assert.equal(plan.remove.length, 0);
    assert.deepEqual(plan.unplaced.map((u) => u.reason), [WAITING_FOR_AGENTS, WAITING_FOR_AGENTS]);
  });

  it('moves the instances once the agent is down (no longer listed)', () => {
    const assignments = converged([agent('a'), agent('b')]);
    const plan = schedule({ apps: [shop], agents: [agent('a')], assignments });
    assert.equal(plan.remove.length, 3);
    assert.equal(plan.put.length, 3);
  });
});
