import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { drainOutlook } from '../../control-plane/scheduler/drain-outlook';
import type { AgentView, Assignment, PlacementRule } from '../../control-plane/scheduler/types';
import { drainSummary } from '../../cli/commands/agents';

const on = (id: string, over: Partial<AgentView> = {}): AgentView => ({ id, datacenter: 'dc-1', labels: {}, capacity: 10, state: 'ready', ...over });
const placed = (instance: string, agentId = 'a1', app = 'shop'): Assignment => ({
  agentId, app, instance, type: instance.split('.')[0]!, release: 1, slug: 's', restartToken: '', graceMs: 0,
});
const noRules = () => undefined;

describe('drain outlook: which instances of a drained agent no other agent may take', () => {
  const onA1 = [placed('web.1'), placed('web.2'), placed('worker.1'), placed('worker.9', 'a2')];

  it('counts none when every other agent may take everything', () => {
    const outlook = drainOutlook('a1', onA1, [on('a1', { state: 'draining' }), on('a2')], noRules);
    assert.deepEqual(outlook, { stuck: 0, example: '', reason: '' });
  });

  it('counts the web instances when every other ready agent has web off', () => {
    const agents = [on('a1', { state: 'draining' }), on('a2', { web: false }), on('a3', { web: false })];
    assert.deepEqual(drainOutlook('a1', onA1, agents, noRules), { stuck: 2, example: 'shop/web.1', reason: 'no other ready agent runs web' });
  });

  it('does not count an agent that runs web but is not ready', () => {
    const agents = [on('a1', { state: 'draining' }), on('a2', { web: false }), on('a3', { state: 'draining' })];
    assert.equal(drainOutlook('a1', onA1, agents, noRules).stuck, 2);
  });

  it('counts a type whose placement rule no other ready agent fits, naming the rule', () => {
    const rules: Record<string, PlacementRule> = { worker: { labels: { disk: 'ssd' } } };
    const agents = [on('a1', { state: 'draining', labels: { disk: 'ssd' } }), on('a2', { labels: { disk: 'hdd' } })];
    const outlook = drainOutlook('a1', onA1, agents, (app, type) => (app === 'shop' ? rules[type] : undefined));
    assert.deepEqual(outlook, { stuck: 1, example: 'shop/worker.1', reason: 'no other ready agent matches the placement rule of `worker` (disk=ssd)' });
  });

  it('names web and its rule when other agents fit the rule but run no web', () => {
    const rules: Record<string, PlacementRule> = { web: { labels: {}, datacenter: 'dc-2' } };
    const agents = [on('a1', { state: 'draining', datacenter: 'dc-2' }), on('a2', { datacenter: 'dc-2', web: false }), on('a3')];
    const outlook = drainOutlook('a1', onA1, agents, (_app, type) => rules[type]);
    assert.equal(outlook.stuck, 2);
    assert.equal(outlook.reason, 'no other ready agent matches the placement rule of `web` (datacenter dc-2) and runs web');
  });

  it('counts everything when no other agent is ready', () => {
    assert.deepEqual(drainOutlook('a1', onA1, [on('a1', { state: 'draining' })], noRules), { stuck: 3, example: 'shop/web.1', reason: 'no other agent is ready' });
  });
});

describe('agents:drain summary', () => {
  const drained = { instances: 5, was_drained: false, cannot_move: 0, cannot_move_example: '', cannot_move_reason: '' };

  it('says they move when every instance may go elsewhere', () => {
    assert.match(drainSummary('a1', drained, true), /^Draining a1: its 5 instance\(s\) move to other agents/);
  });

  it('does not say they move when none can, and says why', () => {
    const text = drainSummary('a1', { ...drained, cannot_move: 5, cannot_move_example: 'shop/web.1', cannot_move_reason: 'no other ready agent runs web' }, true);
    assert.match(text, /^Draining a1: none of its 5 instance\(s\) can move: no other ready agent runs web \(e\.g\. shop\/web\.1\); they keep running there/);
    assert.doesNotMatch(text, /move to other agents/);
  });

  it('splits the count when some can move and some cannot', () => {
    const text = drainSummary('a1', { ...drained, cannot_move: 2, cannot_move_example: 'shop/web.1', cannot_move_reason: 'no other ready agent runs web' }, true);
    assert.match(text, /^Draining a1: 3 of its 5 instance\(s\) move to other agents, each new one up before the old one stops; 2 cannot move: no other ready agent runs web/);
  });

  it('says an agent drained before is draining already', () => {
    assert.match(drainSummary('a1', { ...drained, was_drained: true }, true), /^a1 was draining already: its 5 instance\(s\) move/);
  });
});
