import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PassLoop } from '../../control-plane/leader/pass-loop';
import { waitFor } from '../helpers/wait-for';

/** A pass that stays open until released, counting how many ran at once. */
function gatedPasses() {
  let running = 0;
  let mostAtOnce = 0;
  let started = 0;
  const gates: Array<() => void> = [];
  const pass = async (): Promise<number> => {
    started += 1;
    running += 1;
    mostAtOnce = Math.max(mostAtOnce, running);
    await new Promise<void>((resolve) => gates.push(resolve));
    running -= 1;
    return 60_000;
  };
  return {
    pass,
    started: () => started,
    mostAtOnce: () => mostAtOnce,
    releaseOne: () => gates.shift()?.(),
  };
}

describe('PassLoop', () => {
  it('runs the first pass at once, never two at once, and one more for pokes during a pass', async () => {
    const p = gatedPasses();
    const loop = new PassLoop(p.pass, { everyMs: 60_000, retryMs: 60_000, onError: () => undefined });
    assert.equal(loop.start(), true);
    assert.equal(loop.start(), false, 'a second start changes nothing');
    await waitFor('the first pass', () => p.started() === 1);
    loop.poke();
    loop.poke();
    p.releaseOne();
    await waitFor('one more pass for both pokes', () => p.started() === 2);
    p.releaseOne();
    const stopped = loop.stop();
    assert.equal(await stopped, true);
    assert.equal(p.started(), 2);
    assert.equal(p.mostAtOnce(), 1);
    loop.poke();
    assert.equal(await loop.stop(), false, 'stopped: pokes do nothing');
    assert.equal(p.started(), 2);
  });

  it('waits as long as the pass says, and retries a failed pass after retryMs', async () => {
    const at: number[] = [];
    const errors: unknown[] = [];
    const loop = new PassLoop(async () => {
      at.push(Date.now());
      if (at.length === 1) throw new Error('etcd away');
      return at.length === 2 ? 30 : 60_000;
    }, { everyMs: 60_000, retryMs: 20, onError: (err) => errors.push(err) });
    loop.start();
    await waitFor('three passes', () => at.length === 3);
    await loop.stop();
    assert.equal((errors[0] as Error).message, 'etcd away');
    assert.ok(at[1]! - at[0]! >= 12, `retried after ${at[1]! - at[0]!} ms (20 ms ± 20 % jitter)`);
    assert.ok(at[2]! - at[1]! >= 25, `next pass after ${at[2]! - at[1]!} ms`);
  });

  it('stop waits for the pass in flight', async () => {
    const p = gatedPasses();
    const loop = new PassLoop(p.pass, { everyMs: 60_000, retryMs: 60_000, onError: () => undefined });
    loop.start();
    await waitFor('the first pass', () => p.started() === 1);
    let done = false;
    const stopping = loop.stop().then(() => (done = true));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(done, false, 'still waiting for the pass');
    assert.equal(loop.isActive, false);
    p.releaseOne();
    await stopping;
    assert.equal(done, true);
  });
});
