import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_SETTLE_MS, SETTLE_MS, SettleWindow } from '../../control-plane/leader/round-timing';

describe('SettleWindow', () => {
  it('each join waits SETTLE_MS more, but a stream of joins postpones the round by MAX_SETTLE_MS at most', () => {
    const w = new SettleWindow();
    w.settle(10_000);
    assert.equal(w.until, 10_000 + SETTLE_MS);
    w.settle(10_500);
    assert.equal(w.until, 10_500 + SETTLE_MS);
    for (let t = 11_000; t < 10_000 + MAX_SETTLE_MS; t += 500) w.settle(t);
    assert.equal(w.until, 10_000 + MAX_SETTLE_MS, 'capped at the period\'s start plus MAX_SETTLE_MS');
  });

  it('a join after the period ended starts a new one', () => {
    const w = new SettleWindow();
    w.settle(0);
    w.settle(50_000);
    assert.equal(w.until, 50_000 + SETTLE_MS);
  });

  it('never moves the round earlier than already due', () => {
    const w = new SettleWindow();
    w.until = 5_000; // a failed round's wait
    w.settle(4_500);
    assert.equal(w.until, 5_000);
  });
});
