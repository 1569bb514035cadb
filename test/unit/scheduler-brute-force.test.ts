/** Scheduler: random clusters, each plan checked against a brute-force reading of the placement rules. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { schedule } from '../../control-plane/scheduler/schedule';
import type { AgentView, AppView, Assignment, PlacementRule, Plan, SchedulerInput } from '../../control-plane/scheduler/types';
import { agent, app, converged } from '../helpers/scheduler-fixtures';
import { applyPlan } from '../helpers/scheduler-plans';

// Randomised check that the fast placement agrees with the rules applied by brute force.
describe('scheduler: agrees with a brute-force reading of the rules', () => {
  for (let seed = 1; seed <= 60; seed++) {
    it(`random cluster #${seed}`, () => {
      const input = randomInput(seed);
      const plan = schedule(input);
      verify(input, plan);
      // Slots of copies that moved off by their rule are free only once those copies are gone: a
      // second round may place what the first left unplaced, and nothing else.
      const after = applyPlan(input.assignments, plan);
      const second = schedule({ ...input, assignments: after });
      const waited = new Set(plan.unplaced.map((u) => `${u.app}/${u.instance}`));
      for (const p of second.put) assert.ok(waited.has(`${p.app}/${p.instance}`), `${p.app}/${p.instance} was unplaced before`);
      assert.deepEqual(schedule({ ...input, assignments: applyPlan(after, second) }).put, [], 'converges');
    });
  }
});

function randomInput(seed: number): SchedulerInput {
  // mulberry32: a tiny seeded generator, so a failure can be replayed by its number.
  let state = seed;
  const rand = (n: number) => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
  const dcs = 1 + rand(4);
  const agents = Array.from({ length: rand(80) }, (_, i) =>
    agent(`agent-${rand(1000)}-${i}`, {
      datacenter: `dc-${rand(dcs)}`,
      capacity: rand(12),
      state: rand(8) === 0 ? 'draining' : 'ready',
      labels: rand(3) === 0 ? { role: 'web' } : rand(2) === 0 ? { role: 'worker', disk: 'ssd' } : {},
    }),
  );
  // Placement rules on some types: a label, a datacenter, both, or one no agent satisfies.
  const rules: Array<AppView['placement']> = [
    undefined,
    { web: { labels: { role: 'web' } } },
    { worker: { labels: { disk: 'ssd' }, datacenter: 'dc-0' }, clock: { labels: {}, datacenter: `dc-${rand(dcs)}` } },
    { web: { labels: { role: 'nowhere' } }, worker: { labels: {} } },
  ];
  const apps = Array.from({ length: 1 + rand(4) }, (_, i) =>
    app(`app-${i}`, { web: rand(8), worker: rand(20), clock: rand(2), missing: rand(3) }, { placement: rules[rand(rules.length)] }),
  );
  const previous = { apps: apps.map((a) => ({ ...a, formation: { web: rand(8), worker: rand(20) } })), agents: agents.filter(() => rand(4) > 0) };
  const assignments = converged(previous);
  // A few duplicates on other agents.
  for (let i = 0; i < 3 && assignments.length > 0 && agents.length > 0; i++) {
    assignments.push({ ...assignments[rand(assignments.length)]!, agentId: agents[rand(agents.length)]!.id });
  }
  return { apps, agents, assignments };
}

// Replays the plan against the rules: desired instances are each kept, placed or unplaced; each
// placement picks the best agent by the documented order given everything decided before it.
function verify(input: SchedulerInput, plan: Plan): void {
  const desired: Array<{ app: string; type: string; instance: string }> = [];
  for (const a of [...input.apps].sort((x, y) => (x.name < y.name ? -1 : 1))) {
    for (const type of Object.keys(a.formation).sort()) {
      if (!a.release?.processTypes[type]) continue;
      for (let n = 1; n <= a.formation[type]!; n++) desired.push({ app: a.name, type, instance: `${type}.${n}` });
    }
  }
  const agentById = new Map(input.agents.map((a) => [a.id, a]));
  const kept = applyPlan(input.assignments, { put: [], remove: plan.remove, unplaced: [] });
  const keptKeys = new Set(kept.map((a) => `${a.app}/${a.instance}`));
  assert.equal(keptKeys.size, kept.length, 'no instance is kept twice');
  const desiredKeys = new Set(desired.map((d) => `${d.app}/${d.instance}`));
  for (const key of keptKeys) assert.ok(desiredKeys.has(key), `kept ${key} is desired`);
  for (const a of kept) assert.equal(agentById.get(a.agentId)?.state, 'ready', 'kept only on ready agents');
  const ruleOf = (app: string, type: string) => input.apps.find((a) => a.name === app)?.placement?.[type];
  const allowed = (agent: AgentView, rule: PlacementRule | undefined) =>
    !rule ||
    ((!rule.datacenter || agent.datacenter === rule.datacenter) &&
      Object.entries(rule.labels).every(([k, v]) => agent.labels[k] === v));
  for (const a of kept) assert.ok(allowed(agentById.get(a.agentId)!, ruleOf(a.app, a.type)), 'kept only where the rule allows');
  const used = new Map<string, number>();
  for (const a of kept) used.set(a.agentId, (used.get(a.agentId) ?? 0) + 1);
  // A desired copy that moves off a ready agent by its rule runs until its new copy is up: its slot stays taken.
  for (const a of input.assignments) {
    const on = agentById.get(a.agentId);
    const rule = ruleOf(a.app, a.type);
    if (on?.state === 'ready' && rule && desiredKeys.has(`${a.app}/${a.instance}`) && !allowed(on, rule)) used.set(a.agentId, (used.get(a.agentId) ?? 0) + 1);
  }
  const typeOn = (app: string, type: string, where: (a: Assignment) => boolean) => (placed: Assignment[]) =>
    placed.filter((a) => a.app === app && a.type === type && where(a)).length;

  const placed = [...kept];
  const puts = plan.put.filter((p) => !keptKeys.has(`${p.app}/${p.instance}`));
  const unplaced = new Set(plan.unplaced.map((u) => `${u.app}/${u.instance}`));
  let next = 0;
  for (const d of desired) {
    const key = `${d.app}/${d.instance}`;
    if (keptKeys.has(key)) continue;
    const rule = ruleOf(d.app, d.type);
    const candidates = input.agents.filter((a) => a.state === 'ready' && (used.get(a.id) ?? 0) < a.capacity && allowed(a, rule));
    if (candidates.length === 0) {
      assert.ok(unplaced.has(key), `${key} is reported unplaced`);
      continue;
    }
    const score = (a: AgentView) => [
      typeOn(d.app, d.type, (x) => x.agentId === a.id)(placed),
      typeOn(d.app, d.type, (x) => agentById.get(x.agentId)!.datacenter === a.datacenter)(placed),
      used.get(a.id) ?? 0,
    ];
    const best = candidates.reduce((b, a) => {
      const [sa, sb] = [score(a), score(b)];
      for (let i = 0; i < 3; i++) if (sa[i] !== sb[i]) return sa[i]! < sb[i]! ? a : b;
      return a.id < b.id ? a : b;
    });
    const put = puts[next++];
    assert.equal(`${put?.app}/${put?.instance}`, key, 'placements come in app, type, instance order');
    assert.equal(put!.agentId, best.id, `${key} goes to the best agent`);
    placed.push(put!);
    used.set(best.id, (used.get(best.id) ?? 0) + 1);
  }
  assert.equal(next, puts.length, 'nothing else is placed');
}
