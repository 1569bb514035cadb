import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { planOps, unplacedOps } from '../../control-plane/leader/plan-writes';
import { Keys } from '../../control-plane/keys';
import type { Assignment, Plan, Unplaced } from '../../control-plane/scheduler/types';
import { encodeUnplaced } from '../../control-plane/state/instance-status';

const keys = new Keys('/t/');

function unplaced(app: string, instance: string): Unplaced {
  return { app, instance, type: 'web', reason: 'no agent has capacity' };
}

function assignment(agentId: string, app: string, instance: string): Assignment {
  return { agentId, app, instance } as Assignment;
}

describe('unplacedOps', () => {
  it('writes an app\'s unplaced key only when its text changes, and deletes the keys of apps with nothing unplaced', () => {
    const plan: Plan = { put: [], remove: [], unplaced: [unplaced('a', 'web.1'), unplaced('a', 'web.2'), unplaced('b', 'web.1')] };
    const current = new Map([
      [keys.unplaced('a'), { value: encodeUnplaced([unplaced('a', 'web.1'), unplaced('a', 'web.2')]) }],
      [keys.unplaced('b'), { value: encodeUnplaced([unplaced('b', 'web.9')]) }],
      [keys.unplaced('c'), { value: encodeUnplaced([unplaced('c', 'web.1')]) }],
    ]);
    assert.deepEqual(unplacedOps(plan, keys, current), [
      { put: keys.unplaced('b'), value: encodeUnplaced([unplaced('b', 'web.1')]) },
      { delete: keys.unplaced('c') },
    ]);
  });

  it('writes nothing when the plan and etcd agree', () => {
    assert.deepEqual(unplacedOps({ put: [], remove: [], unplaced: [] }, keys, new Map()), []);
  });
});

describe('planOps', () => {
  it('yields the unplaced writes first, then removals and puts, each grouped by agent', () => {
    const plan: Plan = {
      put: [assignment('b', 'x', 'web.1'), assignment('a', 'x', 'web.2'), assignment('b', 'x', 'web.3')],
      remove: [assignment('c', 'x', 'web.4'), assignment('a', 'x', 'web.5')],
      unplaced: [],
    };
    const ops = [...planOps(plan, keys, [{ delete: keys.unplaced('x') }])];
    assert.deepEqual(
      ops.map((op) => ('delete' in op ? `-${op.delete}` : `+${op.put}`)),
      [
        `-${keys.unplaced('x')}`,
        `-${keys.assignment('a', 'x', 'web.5')}`,
        `-${keys.assignment('c', 'x', 'web.4')}`,
        `+${keys.assignment('a', 'x', 'web.2')}`,
        `+${keys.assignment('b', 'x', 'web.1')}`,
        `+${keys.assignment('b', 'x', 'web.3')}`,
      ],
    );
    const put = ops[3];
    assert.ok('put' in put);
    assert.deepEqual(JSON.parse(put.value), { agentId: 'a', app: 'x', instance: 'web.2' });
  });
});
