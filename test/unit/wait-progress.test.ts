/** `--wait`'s progress line (cli/wait-formation.ts): never more up than wanted. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { progressOf } from '../../cli/wait-formation';

const up = (state: string) => state === 'up';
const of = (...states: string[]) => states.map((state) => ({ state }));

describe('progressOf', () => {
  it('counts a scale-down\'s instances still up as stopping, not as more up than wanted', () => {
    // worker=6 → worker=2, before the leader has stopped any: "2/2 up, 4 stopping", not "6/2 up".
    assert.deepEqual(progressOf(of('up', 'up', 'up', 'up', 'up', 'up'), 2, (i) => up(i.state)), { up: 6, shownUp: 2, stopping: 4 });
    // Two of the four stopping already.
    assert.deepEqual(progressOf(of('up', 'up', 'up', 'up', 'stopping', 'stopping'), 2, (i) => up(i.state)), { up: 4, shownUp: 2, stopping: 4 });
    assert.deepEqual(progressOf(of('up', 'up'), 2, (i) => up(i.state)), { up: 2, shownUp: 2, stopping: 0 });
  });

  it('counts the stopping copies of a rolling restart, and what is not up yet', () => {
    assert.deepEqual(progressOf(of('up', 'starting', 'stopping'), 2, (i) => up(i.state)), { up: 1, shownUp: 1, stopping: 1 });
    assert.deepEqual(progressOf(of('pending', 'pending'), 3, (i) => up(i.state)), { up: 0, shownUp: 0, stopping: 0 });
  });
});
