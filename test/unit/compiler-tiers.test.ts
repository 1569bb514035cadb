/** lib/compiler-tiers.ts: V8's baseline and optimizing compilers held off at run time, and released. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import { AGENT_BUSY_WATCH, AGENT_FLOOD, releaseReason, tiersChosenAtStart } from '../../lib/compiler-tiers';

const moduleFile = path.resolve(__dirname, '../../lib/compiler-tiers.js');

interface Tiers {
  held: boolean;
  /** Optimized (TurboFan) while held. */
  whileHeld: boolean;
  /** Compiled to baseline code (Sparkplug) while held. */
  baselineWhileHeld: boolean;
  afterRelease: boolean;
}

/**
 * A fresh Node process (natives syntax, to ask V8): a hot function run while the compilers are
 * held, then after the release until V8 optimized it (deadline 20 s). Prints whether it was
 * compiled or optimized at each point, and whether the hold took.
 */
function optimizedWhileHeldAndAfter(nodeArgs: string[] = []): Tiers {
  // V8's status bits (src/runtime/runtime-test.cc): 16 optimized, 32768 baseline code.
  const script = `
    const oc = require(${JSON.stringify(moduleFile)});
    function hot(x) { let s = 0; for (let i = 0; i < 50; i++) s += (i * x) | 0; return s; }
    const optimized = () => (%GetOptimizationStatus(hot) & 16) !== 0;
    const baseline = () => (%GetOptimizationStatus(hot) & 32768) !== 0;
    const run = () => { for (let i = 0; i < 300000; i++) hot(i); };
    oc.holdCompilers();
    const held = oc.compilersHeld();
    run(); run(); run();
    const whileHeld = optimized();
    const baselineWhileHeld = baseline();
    oc.releaseCompilers();
    const deadline = Date.now() + 20000;
    const step = () => {
      run();
      if (!optimized() && Date.now() < deadline) return setImmediate(step);
      console.log(JSON.stringify({ held, whileHeld, baselineWhileHeld, afterRelease: optimized() }));
    };
    step();
  `;
  return JSON.parse(execFileSync(process.execPath, ['--allow-natives-syntax', ...nodeArgs, '-e', script], { encoding: 'utf8' }).trim()) as Tiers;
}

describe('holdCompilers', () => {
  it('keeps a hot function interpreted while held, and V8 optimizes it once released', () => {
    const r = optimizedWhileHeldAndAfter();
    assert.equal(r.held, true);
    assert.equal(r.whileHeld, false, 'optimized while the compilers were held');
    assert.equal(r.baselineWhileHeld, false, 'compiled to baseline code while the compilers were held');
    assert.equal(r.afterRelease, true, 'not optimized within 20 s of the release');
  });

  it('leaves the flags alone when the process was started with a tiering flag of its own', () => {
    const r = optimizedWhileHeldAndAfter(['--turbofan']);
    assert.equal(r.held, false);
    assert.equal(r.whileHeld, true, 'a process started with --turbofan must optimize from the start');
  });
});

describe('tiersChosenAtStart', () => {
  it('sees tiering flags in execArgv and NODE_OPTIONS, in either spelling', () => {
    assert.equal(tiersChosenAtStart([], ''), false);
    assert.equal(tiersChosenAtStart(['--max-old-space-size=100', '--expose-gc'], '--enable-source-maps'), false);
    for (const flag of ['--jitless', '--lite-mode', '--no-opt', '--turbofan', '--no_turbofan', '--always-turbofan', '--no-sparkplug', '--sparkplug']) {
      assert.equal(tiersChosenAtStart([flag], ''), true, flag);
      assert.equal(tiersChosenAtStart([], `--max-old-space-size=64 ${flag}`), true, `NODE_OPTIONS ${flag}`);
    }
    assert.equal(tiersChosenAtStart(['--optimize-for-size'], ''), false);
  });
});

/**
 * A fresh Node process holds the compilers and watches (a look every 100 ms, busy at `busyShare`
 * of a core, 3 busy looks): `busy` ms of spinning in short turns, then waits up to `waitMs` for
 * the release. Prints whether the compilers are still held at the end and when it was released
 * (ms after start).
 */
function heldAfter(busyMs: number, waitMs: number, busyShare = 0.5): { held: boolean; releasedAfterMs: number | null } {
  const script = `
    const oc = require(${JSON.stringify(moduleFile)});
    oc.holdCompilers();
    oc.releaseWhenBusy({ checkEveryMs: 100, busyShare: ${busyShare}, busyChecks: 3 });
    const start = Date.now();
    let releasedAfterMs = null;
    const seen = () => { if (releasedAfterMs === null && !oc.compilersHeld()) releasedAfterMs = Date.now() - start; };
    const spin = () => {
      seen();
      const until = Math.min(Date.now() + 5, start + ${busyMs});
      while (Date.now() < until);
      if (Date.now() < start + ${busyMs} && oc.compilersHeld()) return setImmediate(spin);
      const end = Date.now() + ${waitMs};
      const wait = () => {
        seen();
        if (oc.compilersHeld() && Date.now() < end) return setTimeout(wait, 20);
        console.log(JSON.stringify({ held: oc.compilersHeld(), releasedAfterMs }));
      };
      wait();
    };
    spin();
  `;
  return JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' }).trim()) as { held: boolean; releasedAfterMs: number | null };
}

describe('releaseWhenBusy', () => {
  it('keeps the compilers held through a short burst and a quiet spell', () => {
    const r = heldAfter(150, 1_000);
    assert.equal(r.held, true, `released after ${r.releasedAfterMs} ms by a 150 ms burst`);
  });

  it('releases it once the process has been busy several looks in a row', () => {
    // Spinning gets a fair share of a core, which on a machine running the whole suite can be
    // under half of one for seconds: a tenth is what a spinning process surely gets.
    const r = heldAfter(20_000, 0, 0.1);
    assert.equal(r.held, false, 'still held after 20 s of spinning');
    assert.ok(r.releasedAfterMs !== null && r.releasedAfterMs >= 250, `released after ${r.releasedAfterMs} ms: before 3 looks of 100 ms`);
  });
});

/**
 * A fresh Node process holds the compilers and counts work with releaseOnBurst (2,000 within
 * 100 ms) on a clock of its own: each [atMs, n] of `counts` counts n at that time. Prints whether
 * they are still held after each count, and how many times onRelease was called.
 */
function heldThroughCounts(counts: [number, number][]): { heldAfter: boolean[]; releases: number } {
  const script = `
    const oc = require(${JSON.stringify(moduleFile)});
    oc.holdCompilers();
    let t = 0;
    let releases = 0;
    const count = oc.releaseOnBurst({ amount: 2000, withinMs: 100 }, () => releases++, () => t);
    const heldAfter = [];
    for (const [at, n] of ${JSON.stringify(counts)}) {
      t = at;
      count(n);
      heldAfter.push(oc.compilersHeld());
    }
    console.log(JSON.stringify({ heldAfter, releases }));
  `;
  return JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' }).trim()) as { heldAfter: boolean[]; releases: number };
}

describe('releaseOnBurst', () => {
  it('releases the compilers at the count that reaches the amount within the window, once', () => {
    const r = heldThroughCounts([[0, 64], [10, 640], [50, 1_000], [90, 320], [95, 64], [99, 5_000]]);
    assert.deepEqual(r.heldAfter, [true, true, true, false, false, false]);
    assert.equal(r.releases, 1);
  });

  it('keeps them held while no window of 100 ms reaches the amount', () => {
    // 19,000 lines a second for 3 s, in counts of 95 every 5 ms; then a count of 1,999 alone.
    const counts: [number, number][] = [];
    for (let at = 0; at < 3_000; at += 5) counts.push([at, 95]);
    counts.push([3_200, 1_999]);
    const r = heldThroughCounts(counts);
    assert.equal(r.heldAfter.every((held) => held), true, `released at count ${r.heldAfter.indexOf(false)}`);
    assert.equal(r.releases, 0);
  });

  it('starts a window anew with the first count after one ended', () => {
    // 1,500 at 0 ms, then 1,500 at 150 ms: 3,000 in all, but never 2,000 within 100 ms.
    const r = heldThroughCounts([[0, 1_500], [150, 1_500], [260, 600], [300, 1_400]]);
    assert.deepEqual(r.heldAfter, [true, true, true, false]);
  });
});

describe('the agent\'s rules', () => {
  it('are said in the units they are measured in', () => {
    assert.equal(releaseReason({ burst: AGENT_FLOOD }), '≥ 2,000 log lines within 0.1 s');
    assert.equal(releaseReason({ watch: AGENT_BUSY_WATCH }), 'busy for 10 s in a row');
  });
});
