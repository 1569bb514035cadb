/** lib/compiler-tiers.ts: V8's baseline and optimizing compilers held off at run time, and released. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import { AGENT_BUSY_WATCH, releaseReason, tiersChosenAtStart } from '../../lib/compiler-tiers';

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
 * A fresh Node process holds the compilers and watches (a look every 100 ms, busy at half a core,
 * 3 busy looks): `busy` ms of spinning in short turns, then waits up to `waitMs` for the release.
 * Prints whether the compilers are still held at the end and when it was released (ms after start).
 */
function heldAfter(busyMs: number, waitMs: number): { held: boolean; releasedAfterMs: number | null } {
  const script = `
    const oc = require(${JSON.stringify(moduleFile)});
    oc.holdCompilers();
    oc.releaseWhenBusy({ checkEveryMs: 100, busyShare: 0.5, busyChecks: 3 });
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
    const r = heldAfter(20_000, 0);
    assert.equal(r.held, false, 'still held after 20 s of spinning');
    assert.ok(r.releasedAfterMs !== null && r.releasedAfterMs >= 250, `released after ${r.releasedAfterMs} ms: before 3 looks of 100 ms`);
  });
});

/**
 * A fresh Node process holds the compilers and watches a work counter (a look every 100 ms; CPU
 * never counts: busyShare 2), which a timer raises by `perTick` every 10 ms, for up to `waitMs`.
 * Prints whether they are still held, when they were released and why.
 */
function heldUnderWork(perTick: number, waitMs: number): { held: boolean; releasedAfterMs: number | null; why: string | null } {
  const script = `
    const oc = require(${JSON.stringify(moduleFile)});
    oc.holdCompilers();
    let count = 0;
    let why = null;
    const start = Date.now();
    let releasedAfterMs = null;
    oc.releaseWhenBusy({ checkEveryMs: 100, busyShare: 2, busyChecks: 3, busyWork: 100, busyWorkChecks: 2 }, (w) => {
      why = w;
      releasedAfterMs = Date.now() - start;
    }, () => count);
    const tick = setInterval(() => (count += ${perTick}), 10);
    const wait = () => {
      if (oc.compilersHeld() && Date.now() < start + ${waitMs}) return setTimeout(wait, 20);
      clearInterval(tick);
      console.log(JSON.stringify({ held: oc.compilersHeld(), releasedAfterMs, why }));
    };
    wait();
  `;
  return JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' }).trim()) as { held: boolean; releasedAfterMs: number | null; why: string | null };
}

describe('releaseWhenBusy with a work counter', () => {
  it('releases the compilers after looks in a row that each counted enough work', () => {
    // ~10 ticks a look: ~200 a look against 100.
    const r = heldUnderWork(20, 10_000);
    assert.equal(r.held, false, 'still held after 10 s of work');
    assert.equal(r.why, 'work');
    assert.ok(r.releasedAfterMs !== null && r.releasedAfterMs >= 150, `released after ${r.releasedAfterMs} ms: before 2 looks of 100 ms`);
  });

  it('keeps them held while the work stays under the bar', () => {
    // ~20 a look against 100 (a look would have to come 5 times late to see 100).
    const r = heldUnderWork(2, 1_000);
    assert.equal(r.held, true, `released after ${r.releasedAfterMs} ms (${r.why}) by too little work`);
  });
});

describe('the agent\'s rule', () => {
  it('is said in the units it is measured in', () => {
    assert.equal(releaseReason(AGENT_BUSY_WATCH, 'work'), '≥ 20,000 log lines a second for 0.5 s');
    assert.equal(releaseReason(AGENT_BUSY_WATCH, 'cpu'), 'busy for 10 s in a row');
    assert.equal(releaseReason({ checkEveryMs: 1_000, busyShare: 0.4, busyChecks: 3, busyWork: 20_000, busyWorkChecks: 2 }, 'work'), '≥ 20,000 log lines a second for 2 s');
  });
});
