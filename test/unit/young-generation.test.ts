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
