/** Late heartbeats are noticed and warned about at most once a minute (agent/link/heartbeat-lateness.ts). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HeartbeatLateness } from '../../agent/link/heartbeat-lateness';

describe('HeartbeatLateness', () => {
  it('says nothing about a heartbeat on time or a little late', () => {
    const lateness = new HeartbeatLateness(500);
    lateness.due(1_000);
    assert.equal(lateness.started(1_000), undefined);
    lateness.due(2_000);
    assert.equal(lateness.started(2_499), undefined, '499 ms late');
  });

  it('reports a heartbeat at least the threshold late, with how late it was', () => {
    const lateness = new HeartbeatLateness(500);
    lateness.due(1_000);
    assert.deepEqual(lateness.started(1_700), { lateMs: 700, unreported: 0 });
  });

  it('warns once a minute at most, and counts the late heartbeats in between', () => {
    const lateness = new HeartbeatLateness(500, 60_000);
    lateness.due(1_000);
    assert.deepEqual(lateness.started(2_000), { lateMs: 1_000, unreported: 0 });
    for (let t = 3_000; t < 60_000; t += 10_000) {
      lateness.due(t);
      assert.equal(lateness.started(t + 600), undefined, `a late heartbeat ${t - 2_000} ms after the warning`);
    }
    lateness.due(62_000);
    assert.deepEqual(lateness.started(62_800), { lateMs: 800, unreported: 6 }, 'a minute later: warned again, with the 6 in between');
  });

  it('ignores a tick that was no heartbeat (registering, or a retry without a timer)', () => {
    const lateness = new HeartbeatLateness(500);
    lateness.due(undefined);
    assert.equal(lateness.started(10_000), undefined);
    lateness.due(1_000);
    lateness.started(1_000);
    assert.equal(lateness.started(50_000), undefined, 'each due time is used once');
  });
});
