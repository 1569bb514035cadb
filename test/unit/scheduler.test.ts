import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { schedule } from '../../control-plane/scheduler/schedule';
import {
  DEFAULT_GRACE_MS,
  type AgentView,
  type AppView,
  type Assignment,
  type PlacementRule,
  type Plan,
  type SchedulerInput,
} from '../../control-plane/scheduler/types';
import { applyPlan } from '../helpers/scheduler-plans';

function agent(id: string, opts: Partial<AgentView> = {}): AgentView {
  return { id, datacenter: 'dc-a', labels: {}, capacity: 100, state: 'ready', ...opts };
}

function app(name: string, formation: Record<string, number>, opts: Partial<AppView> = {}): AppView {
  return {
    name,
    release: {
      version: 1,
      slug: 'sha-1',
      processTypes: { web: 'node web.js --port $PORT', worker: 'node worker.js', clock: 'node clock.js' },
      env: { NODE_ENV: 'production', LANG: 'en_US.UTF-8' },
    },
    formation,
    restartTokens: {},
    ...opts,
  };
}

const agents3 = [agent('agent-1'), agent('agent-2'), agent('agent-3')];

/** Assignments of a cluster that has converged on `input`. */
function converged(input: Omit<SchedulerInput, 'assignments'>): Assignment[] {
  return applyPlan([], schedule({ ...input, assignments: [] }));
}

function perAgent(assignments: Array<{ agentId: string }>): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const a of assignments) counts[a.agentId] = (counts[a.agentId] ?? 0) + 1;
  return counts;
}

function names(items: Array<{ instance: string }>): string[] {
  return items.map((i) => i.instance).sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
}

const empty: Plan = { put: [], remove: [], unplaced: [] };

describe('scheduler: placement from scratch', () => {
  const cases: Array<{
    name: string;
    input: SchedulerInput;
    /** Instances per agent, per process type (`*` for all types together). */
    spread: Record<string, Record<string, number>>;
    unplaced?: string[];
  }> = [
    {
      name: 'spreads 10 workers over 3 agents as 4/3/3',
      input: { apps: [app('shop', { worker: 10 })], agents: agents3, assignments: [] },
      spread: { worker: { 'agent-1': 4, 'agent-2': 3, 'agent-3': 3 } },
    },
    {
      name: 'spreads each type and balances the total with web=2 worker=10',
      input: { apps: [app('shop', { web: 2, worker: 10 })], agents: agents3, assignments: [] },
      spread: {
        web: { 'agent-1': 1, 'agent-2': 1 },
        worker: { 'agent-1': 3, 'agent-2': 3, 'agent-3': 4 },
        '*': { 'agent-1': 4, 'agent-2': 4, 'agent-3': 4 },
      },
    },
    {
      name: 'spreads 6 instances over two datacenters as 3 per datacenter',
      input: {
        apps: [app('shop', { worker: 6 })],
        agents: [
          agent('a1', { datacenter: 'dc-a' }),
          agent('a2', { datacenter: 'dc-a' }),
          agent('b1', { datacenter: 'dc-b' }),
          agent('b2', { datacenter: 'dc-b' }),
        ],
        assignments: [],
      },
      spread: { worker: { a1: 2, a2: 1, b1: 2, b2: 1 } },
    },
    {
      name: 'puts a second instance in the other datacenter before a second host of the first',
      input: {
        apps: [app('shop', { web: 2 })],
        agents: [agent('a1', { datacenter: 'dc-a' }), agent('a2', { datacenter: 'dc-a' }), agent('z9', { datacenter: 'dc-z' })],
        assignments: [],
      },
      spread: { web: { a1: 1, z9: 1 } },
    },
    {
      name: 'respects capacity and reports the rest as unplaced',
      input: {
        apps: [app('shop', { worker: 10 })],
        agents: [agent('agent-1', { capacity: 2 }), agent('agent-2', { capacity: 2 }), agent('agent-3', { capacity: 2 })],
        assignments: [],
      },
      spread: { worker: { 'agent-1': 2, 'agent-2': 2, 'agent-3': 2 } },
      unplaced: ['worker.7', 'worker.8', 'worker.9', 'worker.10'].map((i) => `${i}: no agent with free capacity`),
    },
    {
      name: "counts other apps' instances against capacity",
      input: {
        apps: [app('blog', { web: 3 }), app('shop', { worker: 2 })],
        agents: [agent('agent-1', { capacity: 2 }), agent('agent-2', { capacity: 2 })],
        // blog runs web.1 and web.3 on agent-1 (now full) and web.2 on agent-2.
        assignments: converged({ apps: [app('blog', { web: 3 })], agents: [agent('agent-1'), agent('agent-2')] }),
      },
      spread: { worker: { 'agent-2': 1 } },
      unplaced: ['worker.2: no agent with free capacity'],
    },
    {
      name: 'says when no agent is registered',
      input: { apps: [app('shop', { web: 1 })], agents: [], assignments: [] },
      spread: { web: {} },
      unplaced: ['web.1: no agents registered'],
    },
    {
      name: 'says when every agent is draining',
      input: { apps: [app('shop', { web: 1 })], agents: [agent('agent-1', { state: 'draining' })], assignments: [] },
      spread: { web: {} },
      unplaced: ['web.1: no ready agent'],
    },
    {
      name: 'places nothing for an app without a release',
      input: { apps: [app('shop', { web: 2 }, { release: undefined })], agents: agents3, assignments: [] },
      spread: { web: {} },
    },
    {
      name: 'places nothing for a type the release does not declare',
      input: { apps: [app('shop', { web: 1, mailer: 3 })], agents: agents3, assignments: [] },
      spread: { web: { 'agent-1': 1 }, mailer: {} },
    },
    {
      name: 'places nothing for a type scaled to 0 or named like an Object.prototype member',
      input: { apps: [app('shop', { web: 0, constructor: 2, toString: 1 })], agents: agents3, assignments: [] },
      spread: { '*': {} },
    },
  ];

  for (const c of cases) {
    it(c.name, () => {
      const plan = schedule(c.input);
      for (const [type, expected] of Object.entries(c.spread)) {
        const ofType = plan.put.filter((p) => type === '*' || p.type === type);
        assert.deepEqual(perAgent(ofType), expected, `spread of ${type}`);
      }
      assert.deepEqual(plan.remove, []);
      assert.deepEqual(
        plan.unplaced.map((u) => `${u.instance}: ${u.reason}`),
        c.unplaced ?? [],
      );
    });
  }

  it('names instances densely from 1 with the full spec', () => {
    const shop = app('shop', { web: 2 }, { restartTokens: { '*': 'r1', 'web.2': 'x' }, graceMs: { web: 5000 } });
    const plan = schedule({ apps: [shop], agents: agents3, assignments: [] });
    assert.deepEqual(plan.put, [
      {
        agentId: 'agent-1',
        app: 'shop',
        instance: 'web.1',
        type: 'web',
        release: 1,
        slug: 'sha-1',
        restartToken: 'r1//',
        graceMs: 5000,
      },
      {
        agentId: 'agent-2',
        app: 'shop',
        instance: 'web.2',
        type: 'web',
        release: 1,
        slug: 'sha-1',
        restartToken: 'r1//x',
        graceMs: 5000,
      },
    ]);
  });

  it('takes the grace period from the type, then `*`, then the default', () => {
    const plan = schedule({
      apps: [
        app('a', { web: 1, worker: 1 }, { graceMs: { web: 1000, '*': 2000 } }),
        app('b', { web: 1 }),
      ],
      agents: agents3,
      assignments: [],
    });
    assert.deepEqual(
      plan.put.map((p) => `${p.app}/${p.instance}=${p.graceMs}`),
      ['a/web.1=1000', 'a/worker.1=2000', `b/web.1=${DEFAULT_GRACE_MS}`],
    );
  });

  it('gives the same plan whatever the order of agents', () => {
    const input = { apps: [app('shop', { web: 3, worker: 7 })], assignments: [] };
    const agents = [agent('c', { datacenter: 'dc-2' }), agent('a'), agent('b', { datacenter: 'dc-2' }), agent('d')];
    assert.deepEqual(schedule({ ...input, agents }), schedule({ ...input, agents: [...agents].reverse() }));
  });
});

describe('scheduler: changes to a running cluster', () => {
  const base = { apps: [app('shop', { web: 2, worker: 10 })], agents: agents3 };
  const running = converged(base);
  const onAgent2 = running.filter((a) => a.agentId === 'agent-2');
  const worker4 = running.find((a) => a.instance === 'worker.4')!;

  const cases: Array<{
    name: string;
    input: SchedulerInput;
    /** `instance@agent`, sorted; undefined: not checked here, see `check`. */
    put?: string[];
    remove?: string[];
    check?: (plan: Plan) => void;
  }> = [
    {
      name: 'changes nothing once converged',
      input: { ...base, assignments: running },
      put: [],
      remove: [],
    },
    {
      name: 'adds exactly two instances when scaling 10 → 12 and removes nothing',
      input: { ...base, apps: [app('shop', { web: 2, worker: 12 })], assignments: running },
      put: ['worker.11@agent-1', 'worker.12@agent-2'],
      remove: [],
    },
    {
      name: 'removes worker.4–10 only when scaling 10 → 3',
      input: { ...base, apps: [app('shop', { web: 2, worker: 3 })], assignments: running },
      put: [],
      check: (plan) => assert.deepEqual(names(plan.remove), [4, 5, 6, 7, 8, 9, 10].map((n) => `worker.${n}`)),
    },
    {
      name: 'removes a type dropped from the formation',
      input: { ...base, apps: [app('shop', { worker: 10 })], assignments: running },
      put: [],
      check: (plan) => assert.deepEqual(names(plan.remove), ['web.1', 'web.2']),
    },
    {
      name: 'removes everything of an app that is gone',
      input: { ...base, apps: [], assignments: running },
      put: [],
      check: (plan) => assert.equal(plan.remove.length, running.length),
    },
    {
      name: 'keeps instances on an agent whose capacity shrank below them (no eviction)',
      input: { ...base, agents: [agent('agent-1', { capacity: 1 }), agent('agent-2'), agent('agent-3')], assignments: running },
      put: [],
      remove: [],
    },
    {
      name: 'moves nothing when an agent joins',
      input: { ...base, agents: [...agents3, agent('agent-4')], assignments: running },
      put: [],
      remove: [],
    },
    {
      name: "re-places only a lost agent's instances, on the others",
      input: { ...base, agents: [agent('agent-1'), agent('agent-3')], assignments: running },
      check: (plan) => {
        assert.deepEqual(plan.remove, onAgent2.map((a) => ({ agentId: 'agent-2', app: 'shop', instance: a.instance })));
        assert.deepEqual(names(plan.put), names(onAgent2));
        assert.ok(plan.put.every((p) => p.agentId !== 'agent-2'));
        assert.deepEqual(plan.unplaced, []);
      },
    },
    {
      name: 'empties a draining agent onto the others',
      input: { ...base, agents: [agent('agent-1'), agent('agent-2', { state: 'draining' }), agent('agent-3')], assignments: running },
      check: (plan) => {
        assert.deepEqual(plan.remove, onAgent2.map((a) => ({ agentId: 'agent-2', app: 'shop', instance: a.instance })));
        assert.deepEqual(names(plan.put), names(onAgent2));
        assert.deepEqual(perAgent(applyPlan(running, plan)), { 'agent-1': 6, 'agent-3': 6 });
      },
    },
    {
      name: 'removes assignments the desired state does not name (`worker.03`, `worker.0`, unknown app)',
      input: {
        ...base,
        assignments: [
          ...running,
          { ...worker4, instance: 'worker.03' },
          { ...worker4, instance: 'worker.0' },
          { ...worker4, app: 'other' },
        ],
      },
      put: [],
      remove: ['worker.0', 'worker.03', 'worker.4'].map((i) => `${i}@${worker4.agentId}`),
    },
  ];

  for (const c of cases) {
    it(c.name, () => {
      const plan = schedule(c.input);
      const at = (items: Array<{ instance: string; agentId: string }>) => items.map((i) => `${i.instance}@${i.agentId}`).sort();
      if (c.put) assert.deepEqual(at(plan.put), [...c.put].sort());
      if (c.remove) assert.deepEqual(at(plan.remove), [...c.remove].sort());
      c.check?.(plan);
      // Whatever changed, applying the plan converges: a second pass has nothing to do.
      assert.deepEqual(schedule({ ...c.input, assignments: applyPlan(c.input.assignments, plan) }), empty);
    });
  }
});

describe('scheduler: spec changes restart in place', () => {
  const shop = app('shop', { web: 2, worker: 3 });
  const base = { apps: [shop], agents: agents3 };
  const running = converged(base);
  const where = new Map(running.map((a) => [a.instance, a.agentId]));

  const cases: Array<{ name: string; change: Partial<AppView>; restarted: string[] }> = [
    {
      name: 'a new release re-puts every instance',
      change: { release: { ...shop.release!, version: 2, slug: 'sha-2' } },
      restarted: ['web.1', 'web.2', 'worker.1', 'worker.2', 'worker.3'],
    },
    {
      name: 'a config change (a new release, same code) re-puts every instance',
      change: { release: { ...shop.release!, version: 2, env: { NODE_ENV: 'production', DEBUG: '1' } } },
      restarted: ['web.1', 'web.2', 'worker.1', 'worker.2', 'worker.3'],
    },
    {
      name: 'an app restart token re-puts every instance',
      change: { restartTokens: { '*': 't1' } },
      restarted: ['web.1', 'web.2', 'worker.1', 'worker.2', 'worker.3'],
    },
    { name: 'a type restart token re-puts that type', change: { restartTokens: { worker: 't1' } }, restarted: ['worker.1', 'worker.2', 'worker.3'] },
    { name: 'an instance restart token re-puts that instance', change: { restartTokens: { 'worker.2': 't1' } }, restarted: ['worker.2'] },
    { name: 'a grace period change re-puts that type', change: { graceMs: { web: 1 } }, restarted: ['web.1', 'web.2'] },
    // Commands and config change only with a new release: the release number stands for them.
    { name: 'the same release with other commands or config re-puts nothing', change: { release: { ...shop.release!, processTypes: { ...shop.release!.processTypes, web: 'node web2.js' }, env: { DEBUG: '1' } } }, restarted: [] },
  ];

  for (const c of cases) {
    it(c.name, () => {
      const plan = schedule({ ...base, apps: [{ ...shop, ...c.change }], assignments: running });
      assert.deepEqual(names(plan.put), c.restarted);
      for (const p of plan.put) assert.equal(p.agentId, where.get(p.instance), `${p.instance} stays on its agent`);
      assert.deepEqual(plan.remove, []);
    });
  }

  it('distinguishes restart tokens whose plain `/`-join would collide', () => {
    const a = schedule({ ...base, apps: [{ ...shop, restartTokens: { '*': 'a/', worker: '' } }], assignments: [] });
    const b = schedule({ ...base, apps: [{ ...shop, restartTokens: { '*': 'a', worker: '/' } }], assignments: [] });
    assert.notEqual(a.put.find((p) => p.instance === 'worker.1')!.restartToken, b.put.find((p) => p.instance === 'worker.1')!.restartToken);
  });
});

describe('scheduler: assignments stay small', () => {
  it('name their release instead of carrying its command and config, however large the config', () => {
    const big = { ...app('shop', { worker: 40 }) };
    big.release = { ...big.release!, env: { BLOB: 'x'.repeat(120_000) } };
    const plan = schedule({ apps: [big], agents: agents3, assignments: [] });
    assert.equal(plan.put.length, 40);
    for (const p of plan.put) {
      assert.ok(!('env' in p) && !('command' in p), 'no copy of the config or command');
      assert.ok(JSON.stringify(p).length < 300, `assignment of ${JSON.stringify(p).length} bytes`);
    }
  });
});

describe('scheduler: duplicates', () => {
  const base = { apps: [app('shop', { worker: 1 })], agents: agents3 };
  const [one] = converged(base) as [Assignment];
  const stale = { ...one, release: 0 };

  const cases: Array<{ name: string; input: SchedulerInput; keep: string; put: string[] }> = [
    {
      name: 'keeps the copy on the lowest agent id when both are current',
      input: { ...base, assignments: [{ ...one, agentId: 'agent-3' }, { ...one, agentId: 'agent-2' }] },
      keep: 'agent-2',
      put: [],
    },
    {
      name: 'keeps the copy that needs no restart',
      input: { ...base, assignments: [{ ...stale, agentId: 'agent-1' }, { ...one, agentId: 'agent-3' }] },
      keep: 'agent-3',
      put: [],
    },
    {
      name: 'keeps the copy on a ready agent over one on a draining agent',
      input: {
        ...base,
        agents: [agent('agent-1', { state: 'draining' }), agent('agent-2')],
        assignments: [{ ...one, agentId: 'agent-1' }, { ...stale, agentId: 'agent-2' }],
      },
      keep: 'agent-2',
      put: ['worker.1@agent-2'],
    },
    {
      name: 'keeps the copy on a live agent over one on a lost agent',
      input: { ...base, assignments: [{ ...one, agentId: 'gone' }, { ...one, agentId: 'agent-3' }] },
      keep: 'agent-3',
      put: [],
    },
    {
      name: 'treats the same key listed twice as one assignment',
      input: { ...base, assignments: [{ ...one, agentId: 'agent-2' }, { ...one, agentId: 'agent-2' }] },
      keep: 'agent-2',
      put: [],
    },
  ];

  for (const c of cases) {
    it(c.name, () => {
      const plan = schedule(c.input);
      assert.deepEqual(plan.put.map((p) => `${p.instance}@${p.agentId}`), c.put);
      const after = applyPlan(c.input.assignments, plan);
      assert.deepEqual(after.map((a) => a.agentId), [c.keep]);
    });
  }
});

// Randomised check that the fast placement agrees with the rules applied by brute force.
describe('scheduler: agrees with a brute-force reading of the rules', () => {
  for (let seed = 1; seed <= 60; seed++) {
    it(`random cluster #${seed}`, () => {
      const input = randomInput(seed);
      const plan = schedule(input);
      verify(input, plan);
      assert.deepEqual(schedule({ ...input, assignments: applyPlan(input.assignments, plan) }).put, [], 'converges');
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
