/** droppedTypesWarning (cli/dropped-types.ts): a release that lacks a type the formation runs names what stops. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { droppedTypesWarning } from '../../cli/dropped-types';

describe('dropped process types warning', () => {
  it('names a type the formation runs that the new release lacks, with its count', () => {
    assert.equal(
      droppedTypesWarning('shop', 12, [{ type: 'web', count: 1 }, { type: 'worker', count: 4 }], ['web', 'workers']),
      'v12 of shop has no `worker` process type, so worker=4 stops (4 instances) once it runs; the count is kept for a later release that has it ' +
        '(`cluster ps:scale worker=0 -a shop` forgets it)',
    );
  });

  it('names every dropped type, sorted, and counts their instances together', () => {
    assert.equal(
      droppedTypesWarning('shop', 3, [{ type: 'worker', count: 2 }, { type: 'clock', count: 1 }, { type: 'web', count: 2 }], ['web', 'release']),
      'v3 of shop has no `clock`, `worker` process types, so clock=1 worker=2 stop (3 instances) once it runs; the count is kept for a later release that has them ' +
        '(`cluster ps:scale clock=0 worker=0 -a shop` forgets them)',
    );
  });

  it('says nothing when every running type is in the release, or a missing type runs no instance', () => {
    assert.equal(droppedTypesWarning('shop', 2, [{ type: 'web', count: 2 }], ['web', 'worker']), undefined);
    assert.equal(droppedTypesWarning('shop', 2, [{ type: 'web', count: 1 }, { type: 'crasher', count: 0 }], ['web']), undefined);
    assert.equal(droppedTypesWarning('shop', 2, [], ['web']), undefined);
  });
});
