/** Scheduler: first placement of a formation — spreading over agents and datacenters, capacity, what is not placed. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { schedule } from '../../control-plane/scheduler/schedule';
import { DEFAULT_GRACE_MS, type SchedulerInput } from '../../control-plane/scheduler/types';
import { agent, agents3, app, converged, perAgent } from '../helpers/scheduler-fixtures';

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
