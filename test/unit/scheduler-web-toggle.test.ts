/** Process servers (docs/process-servers.md): agents whose web is off get no `web`, and keep everything else. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { schedule } from '../../control-plane/scheduler/schedule';
import { fitsRule, ruleKey, withServesWeb } from '../../control-plane/scheduler/placement';
import type { AgentView, AppView, Assignment } from '../../control-plane/scheduler/types';
import { applyPlan } from '../helpers/scheduler-plans';

function agent(id: string, opts: Partial<AgentView> = {}): AgentView {
  return { id, datacenter: 'dc-a', labels: {}, capacity: 100, state: 'ready', ...opts };
}

function app(formation: Record<string, number>, placement?: AppView['placement']): AppView {
  return {
    name: 'shop',
    release: { version: 1, slug: 'sha-1', processTypes: { web: 'web', worker: 'worker' }, env: {} },
    formation,
    restartTokens: {},
    ...(placement ? { placement } : {}),
  };
}

const hostsOf = (list: Assignment[], type: string) => new Set(list.filter((a) => a.type === type).map((a) => a.agentId));

describe('scheduler: process servers with web off', () => {
  it('places no web on them, and workers everywhere', () => {
    const agents = [agent('web-1'), agent('proc-1', { web: false }), agent('proc-2', { web: false })];
    const plan = schedule({ apps: [app({ web: 4, worker: 6 })], agents, assignments: [] });
    assert.deepEqual(hostsOf(plan.put, 'web'), new Set(['web-1']));
    assert.deepEqual(hostsOf(plan.put, 'worker'), new Set(['web-1', 'proc-1', 'proc-2']));
    assert.deepEqual(plan.unplaced, []);
  });

  it('leaves web pending with a reason that says how to turn web on when only process servers are there', () => {
    const plan = schedule({ apps: [app({ web: 2, worker: 1 })], agents: [agent('proc-1', { web: false })], assignments: [] });
    assert.deepEqual(plan.unplaced.map((u) => `${u.instance}: ${u.reason}`), [
      'web.1: no agent runs web: process servers run it only after `cluster agents:web ID on`',
      'web.2: no agent runs web: process servers run it only after `cluster agents:web ID on`',
    ]);
    assert.deepEqual(hostsOf(plan.put, 'worker'), new Set(['proc-1']));
  });

  it('combines with a placement rule of web', () => {
    const agents = [agent('a', { labels: { role: 'web' }, web: false }), agent('b', { labels: { role: 'web' } }), agent('c')];
    const plan = schedule({ apps: [app({ web: 3 }, { web: { labels: { role: 'web' } } })], agents, assignments: [] });
    assert.deepEqual(hostsOf(plan.put, 'web'), new Set(['b']));
    const none = schedule({ apps: [app({ web: 1 }, { web: { labels: { role: 'web' } } })], agents: [agents[0]!, agents[2]!], assignments: [] });
    assert.equal(none.unplaced[0]!.reason, 'no agent matches the placement rule of `web` (role=web) and runs web');
  });

  it('moves web off an agent whose web is turned off and keeps its workers', () => {
    const on = [agent('a'), agent('b')];
    const first = applyPlan([], schedule({ apps: [app({ web: 4, worker: 4 })], agents: on, assignments: [] }));
    assert.deepEqual(hostsOf(first, 'web'), new Set(['a', 'b']));
    const off = [agent('a'), agent('b', { web: false })];
    const plan = schedule({ apps: [app({ web: 4, worker: 4 })], agents: off, assignments: first });
    assert.ok(plan.remove.every((r) => r.agentId === 'b' && r.instance.startsWith('web.')), 'only web leaves b');
    assert.ok(plan.put.every((p) => p.agentId === 'a' && p.type === 'web'), 'its new copies go to a');
    const after = applyPlan(first, plan);
    assert.deepEqual(hostsOf(after, 'web'), new Set(['a']));
    assert.deepEqual(hostsOf(after, 'worker'), new Set(['a', 'b']));
  });

  it('changes nothing while every agent runs web (agents without the field run it)', () => {
    const agents = [agent('a'), agent('b', { web: true })];
    const plan = schedule({ apps: [app({ web: 2 })], agents, assignments: [] });
    assert.deepEqual(hostsOf(plan.put, 'web'), new Set(['a', 'b']));
  });

  it('keeps web where it is on an unreachable agent whose web is off', () => {
    const assignments = applyPlan([], schedule({ apps: [app({ web: 1 })], agents: [agent('a')], assignments: [] }));
    const plan = schedule({ apps: [app({ web: 1 })], agents: [agent('a', { state: 'unreachable', web: false }), agent('b')], assignments });
    assert.deepEqual(plan.remove, []);
    assert.deepEqual(plan.put, []);
  });

  it('tells the web rule from the same rule without it', () => {
    const rule = { labels: { role: 'web' } };
    assert.notEqual(ruleKey(rule), ruleKey(withServesWeb(rule)));
    assert.equal(fitsRule(agent('x', { labels: { role: 'web' }, web: false }), withServesWeb(rule)), false);
    assert.equal(fitsRule(agent('x', { labels: { role: 'web' } }), withServesWeb(rule)), true);
  });
});
