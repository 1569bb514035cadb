import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { unplacedOps } from '../../control-plane/leader/plan-writes';
import { Keys } from '../../control-plane/keys';
import type { Plan, Unplaced } from '../../control-plane/scheduler/types';
import { decodeUnplaced, encodeUnplaced, isOutdated } from '../../control-plane/state/instance-status';

const keys = new Keys('/t/');

function unplaced(app: string, instance: string): Unplaced {
  return { app, instance, type: 'web', reason: 'no agent has capacity' };
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

  it('writes a list again, reasons unchanged, once an agent registered since it was written', () => {
    const plan: Plan = { put: [], remove: [], unplaced: [unplaced('a', 'web.1')] };
    const current = new Map([[keys.unplaced('a'), { value: encodeUnplaced([unplaced('a', 'web.1')], 7) }]]);
    assert.deepEqual(unplacedOps(plan, keys, current, 7), []);
    assert.deepEqual(unplacedOps(plan, keys, current, 9), [{ put: keys.unplaced('a'), value: encodeUnplaced([unplaced('a', 'web.1')], 9) }]);
  });

  it('writes nothing when the plan and etcd agree', () => {
    assert.deepEqual(unplacedOps({ put: [], remove: [], unplaced: [] }, keys, new Map()), []);
  });
});

describe('an unplaced list outdated by a registration', () => {
  const list = (agentsRevision: number) => decodeUnplaced(Buffer.from(encodeUnplaced([unplaced('a', 'web.1')], agentsRevision)));

  it('is outdated once an agent registered after the plan it came from, whatever revision it was written at', () => {
    assert.equal(isOutdated(list(0), 12), true, 'made while no agent was registered; one is now');
    assert.equal(isOutdated(list(12), 15), true);
  });

  it('is current when the plan saw the newest registration, or more than this replica has seen yet', () => {
    assert.equal(isOutdated(list(0), 0), false, 'no agents: "no agents registered" stands');
    assert.equal(isOutdated(list(15), 15), false);
    assert.equal(isOutdated(list(20), 15), false, 'this replica\'s mirror is behind the leader\'s');
  });

  it('is judged by the revision it was written at when a leader of an older version wrote it (no revision in the value)', () => {
    const older = (writtenAt?: number) => decodeUnplaced(Buffer.from(JSON.stringify({ instances: [unplaced('a', 'web.1')] })), writtenAt);
    assert.equal(isOutdated(older(10), 15), true, 'left by an earlier run, before the agents registered');
    assert.equal(isOutdated(older(15), 15), false);
    assert.equal(isOutdated(older(20), 15), false, 'written after the newest registration this replica knows of');
    assert.equal(isOutdated(older(), 15), false, 'no revision known at all');
    assert.equal(isOutdated(decodeUnplaced(Buffer.from(encodeUnplaced([unplaced('a', 'web.1')], 15)), 10), 15), false, 'the plan\'s revision, when there is one, decides');
  });
});
