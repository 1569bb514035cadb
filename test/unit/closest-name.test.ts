/** lib/closest-name.ts: the "did you mean" of a mistyped app name. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { closestName, editDistance } from '../../lib/closest-name';

describe('closest name', () => {
  it('counts inserts, deletes, substitutions and swapped neighbours as one edit each', () => {
    assert.equal(editDistance('shop', 'shop'), 0);
    assert.equal(editDistance('shp', 'shop'), 1);
    assert.equal(editDistance('shpo', 'shop'), 1);
    assert.equal(editDistance('chop', 'shop'), 1);
    assert.equal(editDistance('', 'abc'), 3);
  });

  it('names the closest within 2 edits (1 for short names), nothing else', () => {
    assert.equal(closestName('shp', ['api', 'shop', 'shops']), 'shop');
    assert.equal(closestName('billing-ap', ['billing-api', 'billing']), 'billing-api');
    assert.equal(closestName('xyz', ['shop']), undefined);
    assert.equal(closestName('ab', ['xy']), undefined, 'two edits make anything of a short name');
    assert.equal(closestName('shop', ['shop']), undefined, 'itself is no suggestion');
  });
});
