import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decideConcurrency, MAX_PARALLEL_RUNS } from '../../control-plane/cron/concurrency';
import type { ConcurrencyPolicy } from '../../lib/cron/job-input';

describe('concurrency policies', () => {
  const table: Array<[ConcurrencyPolicy, number, { start: boolean; stopActive: boolean }]> = [
    ['forbid', 0, { start: true, stopActive: false }],
    ['forbid', 1, { start: false, stopActive: false }],
    ['forbid', 3, { start: false, stopActive: false }],
    ['replace', 0, { start: true, stopActive: false }],
    ['replace', 1, { start: true, stopActive: true }],
    ['replace', 2, { start: true, stopActive: true }],
    ['allow', 0, { start: true, stopActive: false }],
    ['allow', 1, { start: true, stopActive: false }],
    ['allow', MAX_PARALLEL_RUNS - 1, { start: true, stopActive: false }],
    ['allow', MAX_PARALLEL_RUNS, { start: false, stopActive: false }],
  ];
  for (const [policy, active, expected] of table) {
    it(`${policy} with ${active} run(s) going: ${expected.start ? 'start' : 'skip'}${expected.stopActive ? ', stop the others' : ''}`, () => {
      assert.deepEqual(decideConcurrency(policy, active), expected);
    });
  }
});
