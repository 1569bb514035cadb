/** `restart --wait` (cli/wait-formation.ts): which process counts as restarted, and which restart to follow. */
import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import { followRestart, restartedFor } from '../../cli/wait-formation';
import type { InstanceInfo__Output } from '../../proto/gen/cluster/api/InstanceInfo';

const instance = (name: string, restartToken: string) => ({ name, restart_token: restartToken }) as InstanceInfo__Output;

describe('restart --wait', () => {
  it('reads the part of the token its target changed', () => {
    const token = 'a1/t1/i1';
    assert.equal(restartedFor(instance('worker.2', token), { target: '', token: 'a1' }), true);
    assert.equal(restartedFor(instance('worker.2', token), { target: 'worker', token: 't1' }), true);
    assert.equal(restartedFor(instance('worker.2', token), { target: 'worker.2', token: 'i1' }), true);
    assert.equal(restartedFor(instance('worker.2', token), { target: 'worker', token: 't2' }), false);
    // An older agent or control plane reports no token: never counted as restarted.
    assert.equal(restartedFor(instance('worker.2', ''), { target: '', token: 'a1' }), false);
  });

  it('follows a later restart of the same target, and fails at once when the control plane does not say', () => {
    const goal = { target: 'worker', token: 't1' };
    assert.deepEqual(followRestart({ by_target: { worker: 't1', '*': 'a9' } }, goal), goal);
    let said = '';
    const write = mock.method(process.stderr, 'write', (text: string) => ((said += text), true));
    try {
      assert.deepEqual(followRestart({ by_target: { worker: 't2' } }, goal), { target: 'worker', token: 't2' });
    } finally {
      write.mock.restore();
    }
    assert.match(said, /worker was restarted again meanwhile: following that restart/);
    assert.throws(() => followRestart(null, goal), /older version that does not report restarts/);
    // Once followed, a reply without tokens (an older replica, mid-upgrade) keeps the goal.
    assert.deepEqual(followRestart(null, goal, true), goal);
  });
});
