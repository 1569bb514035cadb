/** capYoungGeneration (agent/young-generation.ts): V8's semi-spaces stop growing at the cap, set at run time. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';

const moduleFile = path.resolve(__dirname, '../../agent/young-generation.js');

/** new_space size (MB) of a fresh Node process after a burst of allocation over 1,000 short turns (as the agent's turns are: the cap is applied
 * after a GC, between turns, so one long turn may take the semi-spaces one doubling past it), capped or not. */
function newSpaceAfterBurst(capMb: number | undefined): number {
  const script = `
    const v8 = require('node:v8');
    ${capMb === undefined ? '' : `require(${JSON.stringify(moduleFile)}).capYoungGeneration(${capMb});`}
    const keep = [];
    let turn = 0;
    const step = () => {
      const a = [];
      for (let i = 0; i < 4000; i++) a.push({ i, s: 'x' + i });
      for (let i = 0; i < a.length; i += 8) keep.push(a[i]);
      if (++turn < 1000) return setImmediate(step);
      const space = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
      console.log(space.space_size / 1048576);
    };
    step();
  `;
  return Number(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' }).trim());
}

describe('capYoungGeneration', () => {
  it('stops the growth of the semi-spaces at the cap; without it they grow past it', () => {
    const uncapped = newSpaceAfterBurst(undefined);
    const capped = newSpaceAfterBurst(2);
    assert.ok(uncapped > 4.5, `uncapped new space ${uncapped} MB: the burst must make V8 grow it for this test to mean anything`);
    assert.ok(capped <= 4.5, `capped at 2 MB semi-spaces, the new space is ${capped} MB`);
  });
});

/**
 * A fresh Node process: a burst grows the young generation (cap 8 MB semi-spaces), then the
 * process is quiet and calls check() every 250 ms until the young generation is small again
 * (deadline 30 s); then a second burst must be able to grow it again. Prints MB figures as JSON.
 */
function giveBackAfterBurst(): { grown: number; back: number; regrown: number; checks: number } {
  const script = `
    const yg = require(${JSON.stringify(moduleFile)});
    const control = yg.capYoungGeneration(8);
    const mb = () => yg.newSpaceBytes() / 1048576;
    const burst = (done) => {
      let keep = [], turn = 0;
      const step = () => {
        const a = [];
        for (let i = 0; i < 4000; i++) a.push({ i, s: 'x' + i });
        for (let i = 0; i < a.length; i += 8) keep.push(a[i]);
        if (keep.length > 100000) keep = [];
        if (++turn < 600) return setImmediate(step);
        keep = null;
        done();
      };
      step();
    };
    burst(() => {
      const grown = mb();
      const deadline = Date.now() + 30000;
      let checks = 0;
      const poll = setInterval(() => {
        control.check();
        checks++;
        if (mb() > 2 && Date.now() < deadline) return;
        clearInterval(poll);
        const back = mb();
        burst(() => {
          console.log(JSON.stringify({ grown, back, regrown: mb(), checks }));
          control.stop();
        });
      }, 250);
    });
  `;
  return JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' }).trim()) as { grown: number; back: number; regrown: number; checks: number };
}

describe('capYoungGeneration give-back', () => {
  it('gives the grown young generation back once the process is quiet, and lets it grow again after', () => {
    const { grown, back, regrown, checks } = giveBackAfterBurst();
    assert.ok(grown > 4, `the burst grew the new space only to ${grown} MB: the test means nothing`);
    assert.ok(grown <= 32, `the cap (8 MB semi-spaces) let the new space reach ${grown} MB`);
    assert.ok(back <= 2, `after ${checks} checks over a quiet spell the new space is still ${back} MB`);
    assert.ok(regrown > back, `after the give-back a new burst could not grow the new space (${back} → ${regrown} MB)`);
  });
});

/**
 * startSmall: allocation for `ms` in short turns (a check every 100 ms, a check busy at 5
 * scavenges, growth after 4 busy checks in a row); prints the new space's MB at the end.
 */
function newSpaceAfterLoad(ms: number): number {
  const script = `
    const yg = require(${JSON.stringify(moduleFile)});
    const control = yg.capYoungGeneration(8, { startSmall: true, busyScavenges: 5, busyChecks: 4 });
    const timer = setInterval(() => control.check(), 100);
    let keep = [];
    const end = Date.now() + ${ms};
    const step = () => {
      const a = [];
      for (let i = 0; i < 4000; i++) a.push({ i, s: 'x' + i });
      for (let i = 0; i < a.length; i += 8) keep.push(a[i]);
      if (keep.length > 100000) keep = [];
      if (Date.now() < end) return setImmediate(step);
      clearInterval(timer);
      console.log(yg.newSpaceBytes() / 1048576);
      control.stop();
    };
    step();
  `;
  return Number(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' }).trim());
}

describe('capYoungGeneration startSmall', () => {
  it('keeps the young generation small through a short burst, and lets it grow under sustained load', () => {
    const short = newSpaceAfterLoad(150);
    const sustained = newSpaceAfterLoad(4000);
    assert.ok(short <= 2, `a 150 ms burst grew the new space to ${short} MB`);
    assert.ok(sustained > 2, `4 s of allocation left the new space at ${sustained} MB: growth was never allowed`);
    assert.ok(sustained <= 32, `the cap (8 MB semi-spaces) let the new space reach ${sustained} MB`);
  });
});
