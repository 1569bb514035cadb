import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { timeoutMs } from '../../cli/parse';
import { UserError } from '../../cli/errors';

describe('--timeout', () => {
  it('takes seconds as a number, or a duration as schedule:add --timeout takes them', () => {
    assert.equal(timeoutMs('300'), 300_000);
    assert.equal(timeoutMs(' 2.5 '), 2_500);
    assert.equal(timeoutMs('30s'), 30_000);
    assert.equal(timeoutMs('5m'), 300_000);
    assert.equal(timeoutMs('1h30m'), 5_400_000);
    assert.equal(timeoutMs('1500ms'), 1_500);
    assert.equal(timeoutMs('7d'), 7 * 86_400_000);
  });

  it('refuses what is no time, nothing, and more than 7 days, naming the flag', () => {
    for (const [text, message] of [
      ['30x', /^--timeout 30x: give seconds \(300\) or a duration \(30s, 5m, 1h\)$/],
      ['', /^--timeout : give seconds/],
      ['0', /^--timeout 0: give seconds/],
      ['0s', /^--timeout 0s: give seconds/],
      ['-5', /^--timeout -5: give seconds/],
      ['1e9', /^--timeout 1e9: give seconds/],
      ['Infinity', /^--timeout Infinity: give seconds/],
      ['8d', /^--timeout 8d: at most 7d$/],
      ['999999999', /^--timeout 999999999: at most 7d$/],
    ] as const) {
      assert.throws(() => timeoutMs(text), (err: unknown) => err instanceof UserError && message.test(err.message), text);
    }
    assert.throws(() => timeoutMs('soon', '--wait-timeout'), /^UserError: --wait-timeout soon: /);
  });
});
