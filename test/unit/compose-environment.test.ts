import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { environmentOf } from '../../lib/compose-environment';

describe('environmentOf: a compose `environment:` as defaults', () => {
  it('reads a mapping in order; a null value has no default; `$$` is a dollar', () => {
    assert.deepEqual(environmentOf({ RAILS_ENV: 'production', TOKEN: null, PRICE: '$$5' }), [
      { key: 'RAILS_ENV', value: 'production' },
      { key: 'TOKEN', value: null },
      { key: 'PRICE', value: '$5' },
    ]);
  });

  it('reads a list: KEY=value (split at the first =), KEY=, and a bare KEY', () => {
    assert.deepEqual(environmentOf(['URL=postgres://h/db?a=b', 'EMPTY=', 'PASSED']), [
      { key: 'URL', value: 'postgres://h/db?a=b' },
      { key: 'EMPTY', value: '' },
      { key: 'PASSED', value: null },
    ]);
  });

  it('is empty when absent or null', () => {
    assert.deepEqual(environmentOf(undefined), []);
    assert.deepEqual(environmentOf(null), []);
  });

  it('refuses keys that are not variable names, non-string values and other shapes', () => {
    assert.throws(() => environmentOf({ '1ST': 'x' }), {
      message: 'has an `environment` key `1ST` that is not a variable name: use letters, digits and underscores, not starting with a digit',
    });
    assert.throws(() => environmentOf(['MY-VAR=1']), /key `MY-VAR` that is not a variable name/);
    assert.throws(() => environmentOf({ PORTS: ['80'] }), { message: 'has an `environment` value for PORTS that is not a string' });
    assert.throws(() => environmentOf([{ A: 'b' }]), { message: 'has an `environment` list with an item that is not `KEY=value`' });
    assert.throws(() => environmentOf('A=b'), { message: 'has an `environment` that is neither a mapping nor a list of `KEY=value`' });
  });
});
