import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { schedule } from '../../control-plane/scheduler/schedule';
import { describeRule, fitsRule, ruleKey } from '../../control-plane/scheduler/placement';
import type { AgentView, AppView, Assignment, Plan, SchedulerInput } from '../../control-plane/scheduler/types';
import { applyPlan } from '../helpers/scheduler-plans';

function agent(id: string, opts: Partial<AgentView> = {}): AgentView {
  return { id, datacenter: 'dc-a', labels: {}, capacity: 100, state: 'ready', ...opts };
}

function app(name: string, formation: Record<string, number>, placement?: AppView['placement']): AppView {
  return {
    name,
    release: { version: 1, slug: 'sha-1', processTypes: { web: 'web', worker: 'worker', clock: 'clock' }, env: {} },
    formation,
    restartTokens: {},
    ...(placement ? { placement } : {}),
  };
}

/** `type: agent agent …` per type, agents sorted: where each type ended up. */
function where(assignments: Assignment[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const a of assignments) (out[a.type] ??= []).push(a.agentId);
  for (const list of Object.values(out)) list.sort();
  return out;
}

const reasons = (plan: Plan) => plan.unplaced.map((u) => `${u.instance}: ${u.reason}`);

// Two web hosts in two datacenters, two plain hosts, one with an ssd.
const hosts = [
  agent('web-1', { labels: { role: 'web' }, datacenter: 'fra1' }),
  agent('web-2', { labels: { role: 'web' }, datacenter: 'ams1' }),
  agent('proc-1', { labels: { role: 'worker' }, datacenter: 'fra1' }),
  agent('proc-2', { labels: { role: 'worker', disk: 'ssd' }, datacenter: 'ams1' }),
];

describe('scheduler: placement rules', () => {
  it('puts web only on role=web hosts, spread over them, and workers anywhere', () => {
    const plan = schedule({ apps: [app('shop', { web: 4, worker: 8 }, { web: { labels: { role: 'web' } } })], agents: hosts, assignments: [] });
    const placed = where(plan.put);
    assert.deepEqual(placed.web, ['web-1', 'web-1', 'web-2', 'web-2']);
    assert.equal(placed.worker!.length, 8);
    assert.deepEqual(new Set(placed.worker), new Set(['web-1', 'web-2', 'proc-1', 'proc-2']), 'workers go anywhere');
    assert.deepEqual(plan.unplaced, []);
  });

  it('pins a type to a datacenter, and to labels and a datacenter together', () => {
    const plan = schedule({
      apps: [app('shop', { clock: 1, worker: 3 }, { clock: { labels: {}, datacenter: 'ams1' }, worker: { labels: { disk: 'ssd' }, datacenter: 'ams1' } })],
      agents: hosts,
      assignments: [],
    });
    assert.deepEqual(where(plan.put), { clock: ['proc-2'], worker: ['proc-2', 'proc-2', 'proc-2'] });
  });

  it('leaves instances pending with the rule when no agent matches it', () => {
    const plan = schedule({ apps: [app('shop', { web: 2, worker: 1 }, { web: { labels: { role: 'edge' } } })], agents: hosts, assignments: [] });
    assert.deepEqual(reasons(plan), [
      'web.1: no agent matches the placement rule of `web` (role=edge)',
      'web.2: no agent matches the placement rule of `web` (role=edge)',
    ]);
    assert.deepEqual(where(plan.put), { worker: ['proc-1'] });
  });

  it('says when the matching agents are full or only draining ones match', () => {
    const full = schedule({
      apps: [app('shop', { web: 3 }, { web: { labels: { role: 'web' } } })],
      agents: hosts.map((h) => ({ ...h, capacity: 1 })),
      assignments: [],
    });
    assert.deepEqual(reasons(full), ['web.3: no agent with free capacity matches the placement rule of `web` (role=web)']);
    const draining = schedule({
      apps: [app('shop', { web: 1 }, { web: { labels: { role: 'web' }, datacenter: 'fra1' } })],
      agents: hosts.map((h) => (h.id === 'web-1' ? { ...h, state: 'draining' as const } : h)),
      assignments: [],
    });
    assert.deepEqual(reasons(draining), ['web.1: no ready agent matches the placement rule of `web` (role=web, datacenter fra1)']);
  });

  it('keeps the general reason when no agent is registered or ready at all', () => {
    const rule = { web: { labels: { role: 'web' } } };
    assert.deepEqual(reasons(schedule({ apps: [app('shop', { web: 1 }, rule)], agents: [], assignments: [] })), ['web.1: no agents registered']);
    const allDraining = hosts.map((h) => ({ ...h, state: 'draining' as const }));
    assert.deepEqual(reasons(schedule({ apps: [app('shop', { web: 1 }, rule)], agents: allDraining, assignments: [] })), ['web.1: no ready agent']);
  });

  it('moves instances a new rule no longer allows, and only those', () => {
    const before: SchedulerInput = { apps: [app('shop', { web: 4, worker: 4 })], agents: hosts, assignments: [] };
    const running = applyPlan([], schedule(before));
    assert.ok(running.some((a) => a.type === 'web' && !a.agentId.startsWith('web-')), 'some web instance starts on a plain host');
    const ruled = { ...before, apps: [app('shop', { web: 4, worker: 4 }, { web: { labels: { role: 'web' } } })], assignments: running };
    const plan = schedule(ruled);
    const moved = running.filter((a) => a.type === 'web' && !a.agentId.startsWith('web-'));
    assert.deepEqual(plan.remove.map((r) => `${r.instance}@${r.agentId}`).sort(), moved.map((a) => `${a.instance}@${a.agentId}`).sort());
    assert.deepEqual(plan.put.map((p) => p.instance).sort(), moved.map((a) => a.instance).sort(), 'the same instances, re-placed');
    assert.ok(plan.put.every((p) => p.agentId.startsWith('web-')));
    const after = applyPlan(running, plan);
    assert.deepEqual(where(after).web, ['web-1', 'web-1', 'web-2', 'web-2']);
    assert.deepEqual(schedule({ ...ruled, assignments: after }), { put: [], remove: [], unplaced: [] }, 'converged');
    // Dropping the rule again moves nothing.
    assert.deepEqual(schedule({ ...before, assignments: after }), { put: [], remove: [], unplaced: [] });
  });

  it('keeps the slot of a copy that moves off by its rule taken while it still runs', () => {
    // a (capacity 2) runs both webs; the rule sends them to b. Their old copies run until the new
    // ones are up (leader/moves.ts), so the workers placed in the same round must not land on a.
    const agents = [agent('a', { capacity: 2 }), agent('b', { labels: { role: 'web' }, capacity: 10 })];
    const running = applyPlan([], schedule({ apps: [app('shop', { web: 2 })], agents: [agents[0]!], assignments: [] }));
    assert.deepEqual(where(running), { web: ['a', 'a'] });
    const plan = schedule({ apps: [app('shop', { web: 2, worker: 2 }, { web: { labels: { role: 'web' } } })], agents, assignments: running });
    assert.deepEqual(plan.put.map((p) => `${p.instance}@${p.agentId}`).sort(), ['web.1@b', 'web.2@b', 'worker.1@b', 'worker.2@b']);
  });

  it('treats a rule without labels or datacenter as no rule', () => {
    const input = { agents: hosts, assignments: [] };
    assert.deepEqual(
      schedule({ ...input, apps: [app('shop', { web: 4 }, { web: { labels: {} } })] }),
      schedule({ ...input, apps: [app('shop', { web: 4 })] }),
    );
  });

  it('counts capacity across rules: what one rule placed fills hosts for the next', () => {
    const agents = [agent('w1', { labels: { role: 'web' }, capacity: 2 }), agent('x1', { capacity: 10 })];
    // a/web (rule) fills w1; b/worker (no rule) must then go to x1 only; c/web (rule) finds w1 full.
    const plan = schedule({
      apps: [app('a', { web: 2 }, { web: { labels: { role: 'web' } } }), app('b', { worker: 2 }), app('c', { web: 1 }, { web: { labels: { role: 'web' } } })],
      agents,
      assignments: [],
    });
    assert.deepEqual(plan.put.map((p) => `${p.app}/${p.instance}@${p.agentId}`), ['a/web.1@w1', 'a/web.2@w1', 'b/worker.1@x1', 'b/worker.2@x1']);
    assert.deepEqual(reasons(plan), ['web.1: no agent with free capacity matches the placement rule of `web` (role=web)']);
  });

  it('matches labels exactly and never through Object.prototype', () => {
    const host = agent('h', { labels: { role: 'web', tier: 'front' } });
    assert.ok(fitsRule(host, { labels: { role: 'web' } }));
    assert.ok(fitsRule(host, { labels: { tier: 'front', role: 'web' } }));
    assert.ok(!fitsRule(host, { labels: { role: 'Web' } }));
    assert.ok(!fitsRule(host, { labels: { role: 'web', ssd: 'yes' } }));
    assert.ok(!fitsRule(host, { labels: { constructor: 'function Object() { [native code] }' } }));
    assert.ok(!fitsRule({ ...host, labels: undefined as unknown as Record<string, string> }, { labels: { role: 'web' } }));
    assert.ok(!fitsRule(host, { labels: {}, datacenter: 'fra1' }));
    assert.equal(ruleKey({ labels: { a: '1', b: '2' } }), ruleKey({ labels: { b: '2', a: '1' } }));
    assert.notEqual(ruleKey({ labels: { a: '1' } }), ruleKey({ labels: { a: '1' }, datacenter: 'x' }));
    assert.equal(describeRule({ labels: { tier: 'front', role: 'web' }, datacenter: 'fra1' }), 'role=web, tier=front, datacenter fra1');
  });

  it('gives the same plan whatever the order of agents', () => {
    const apps = [app('shop', { web: 3, worker: 5, clock: 1 }, { web: { labels: { role: 'web' } }, clock: { labels: {}, datacenter: 'ams1' } })];
    assert.deepEqual(schedule({ apps, agents: hosts, assignments: [] }), schedule({ apps, agents: [...hosts].reverse(), assignments: [] }));
  });
});
