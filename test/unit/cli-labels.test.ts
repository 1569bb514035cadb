/** cli/parse.ts: --label key=value, repeatable; a key given twice with two values is a mistake. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError } from 'commander';
import { collectLabel } from '../../cli/parse';

describe('--label', () => {
  it('collects key=value pairs, the same pair twice once', () => {
    const labels = ['role=web', 'disk=ssd', 'role=web'].reduce<Record<string, string>>((acc, v) => collectLabel(v, acc), {});
    assert.deepEqual(labels, { role: 'web', disk: 'ssd' });
  });

  it('refuses a key given twice with two values, naming both', () => {
    assert.throws(() => collectLabel('role=worker', { role: 'web' }), (err: Error) =>
      err instanceof InvalidArgumentError && err.message === 'label `role` given twice (web, then worker): give each key once');
  });

  it('takes keys that are names of object methods', () => {
    assert.deepEqual(collectLabel('constructor=x', {}), { constructor: 'x' });
  });
});
