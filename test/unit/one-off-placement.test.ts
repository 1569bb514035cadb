/**
 * Where a one-off goes (control-plane/run/one-off.ts pickAgent): the ready agent with the fewest
 * instances and one-offs that has a port to spare, ties to the first by id.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pickAgent } from '../../control-plane/run/one-off';
import type { AgentRecord } from '../../control-plane/records';
import type { Assignment } from '../../control-plane/scheduler/types';

function agent(id: string, ports = 100, state: AgentRecord['state'] = 'ready'): AgentRecord {
  return { id, address: `127.0.0.1:${id.length}`, datacenter: 'dc-1', labels: {}, capacity: ports, ports, version: '1', registeredAtMs: 1, state };
}

function view(agents: AgentRecord[], instances: Record<string, number>, oneOffs: Record<string, number> = {}) {
  const assignments = Object.entries(instances).flatMap(([agentId, n]) =>
    Array.from({ length: n }, (_, i) => ({ agentId, app: 'shop', instance: `worker.${agentId}${i}` }) as Assignment));
  return { agentList: () => agents, assignmentList: () => assignments, oneOffs: (id: string) => oneOffs[id] ?? 0 };
}

describe('pickAgent', () => {
  it('ties go to the first agent by id while nothing runs', () => {
    assert.equal(pickAgent(view([agent('a'), agent('b')], {})).id, 'a');
  });

  it('counts the one-offs an agent runs: the next goes to the other, idle one', () => {
    assert.equal(pickAgent(view([agent('a'), agent('b')], {}, { a: 1 })).id, 'b');
    // Instances and one-offs together: a runs 2 workers, b 1 worker and 2 one-offs.
    assert.equal(pickAgent(view([agent('a'), agent('b')], { a: 2, b: 1 }, { b: 2 })).id, 'a');
  });

  it('skips an agent whose instances and one-offs hold every port, unless all are full', () => {
    assert.equal(pickAgent(view([agent('a', 2), agent('b')], { b: 5 }, { a: 2 })).id, 'b');
    assert.equal(pickAgent(view([agent('a', 2), agent('b', 2)], { b: 2 }, { a: 2 })).id, 'a');
  });

  it('passes over agents tried already and those not ready; refuses when none is ready', () => {
    assert.equal(pickAgent(view([agent('a'), agent('b')], {}), new Set(['a']))?.id, 'b');
    assert.equal(pickAgent(view([agent('a'), agent('b')], {}), new Set(['a', 'b'])), undefined);
    assert.equal(pickAgent(view([agent('a', 100, 'draining'), agent('b')], {})).id, 'b');
    assert.throws(() => pickAgent(view([agent('a', 100, 'draining')], {})), /no agent is ready to run a one-off process/);
  });
});
