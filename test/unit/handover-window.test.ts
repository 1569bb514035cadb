/**
 * agent/agent.ts: the hand-over window the watchdog gets as the agent leaves. The watchdog counts
 * from then, so the time since the window was reckoned (the last heartbeat of a planned
 * hand-over) is taken off: the instances must not outlive the lease while the control plane
 * places them again.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { handoverWindowMs, plannedHandoverWindowMs, windowLeftMs } from '../../agent/handover/window';

describe('hand-over window as the agent leaves', () => {
  it('takes the time spent closing since the last heartbeat off the planned window', () => {
    // 4 s lease: 3.5 s from the last heartbeat; 600 ms spent closing (a logs follower, the flush).
    assert.equal(windowLeftMs(plannedHandoverWindowMs(4), 600), 2_900);
    assert.equal(windowLeftMs(plannedHandoverWindowMs(4), 0), 3_500);
  });

  it('never ends after the lease, and never goes below the watchdog floor', () => {
    const ttlMs = 4_000;
    for (const elapsed of [0, 100, 1_000, 3_000, 3_400]) {
      assert.ok(elapsed + windowLeftMs(plannedHandoverWindowMs(4), elapsed) <= ttlMs - 500, `after ${elapsed} ms closing`);
    }
    assert.equal(windowLeftMs(plannedHandoverWindowMs(4), 10_000), 100);
    assert.equal(windowLeftMs(handoverWindowMs(4, 1_000), -5), 2_500, 'a clock step back takes nothing off');
  });

  it('with a restart hold, ends the watchdog\'s kill grace and a second before the hold, and never before the lease would allow', () => {
    assert.equal(plannedHandoverWindowMs(4, 15_000), 9_000);
    assert.equal(windowLeftMs(plannedHandoverWindowMs(4, 15_000), 600), 8_400);
    assert.equal(plannedHandoverWindowMs(4, 10_000), 4_000);
    // A hold shorter than the lease (or none, from an older control plane) leaves the lease's window.
    assert.equal(plannedHandoverWindowMs(4, 2_000), 3_500);
    assert.equal(plannedHandoverWindowMs(4, 0), 3_500);
  });
});
