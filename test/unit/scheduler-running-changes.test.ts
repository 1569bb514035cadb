/** Scheduler: a running cluster — scaling, agents joining, lost or draining, stray and duplicate assignments. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { schedule } from '../../control-plane/scheduler/schedule';
import type { Assignment, Plan, SchedulerInput } from '../../control-plane/scheduler/types';
import { agent, agents3, app, converged, names, perAgent } from '../helpers/scheduler-fixtures';
import { applyPlan } from '../helpers/scheduler-plans';

const empty: Plan = { put: [], remove: [], unplaced: [] };

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
