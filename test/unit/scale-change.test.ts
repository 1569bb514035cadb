/** A `scale` request's checks and its application to a formation's counts (control-plane/state/scale-change.ts). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { applyScale, checkScaleChanges, describeChange } from '../../control-plane/state/scale-change';
import { releaseWithCode, requireTypeInRelease } from '../../control-plane/state/release-types';
import { FailedPreconditionError, InvalidArgumentError, LimitExceededError } from '../../control-plane/errors';
import type { ReleaseRecord } from '../../control-plane/records';

const RELEASE: ReleaseRecord = {
  version: 3,
  description: 'Deploy',
  createdAtMs: 0,
  slug: 'a'.repeat(64),
  processTypes: { web: 'node web.js', worker: 'node worker.js', release: 'node migrate.js' },
  env: {},
};

describe('scale change', () => {
  it('writes a change as the user did', () => {
    assert.equal(describeChange({ type: 'web', count: 3 }), 'web=3');
    assert.equal(describeChange({ type: 'web', count: 2, relative: true }), 'web+2');
    assert.equal(describeChange({ type: 'web', count: -1, relative: true }), 'web-1');
  });

  it('refuses an empty request, a type given twice, a fraction, a negative total and a total over the limit before any read', () => {
    assert.throws(() => checkScaleChanges([], 10), (e: unknown) => e instanceof InvalidArgumentError && /nothing to scale/.test(e.message));
    assert.throws(
      () => checkScaleChanges([{ type: 'worker', count: 1 }, { type: 'web', count: 1 }, { type: 'worker', count: 2, relative: true }], 10),
      (e: unknown) => e instanceof InvalidArgumentError && e.message === 'worker+2: process type `worker` is already given as worker=1',
    );
    assert.throws(() => checkScaleChanges([{ type: 'web', count: 1.5 }], 10), /web=1\.5: the count must be a whole number, 0 or more/);
    assert.throws(() => checkScaleChanges([{ type: 'web', count: -1 }], 10), InvalidArgumentError);
    assert.throws(
      () => checkScaleChanges([{ type: 'web', count: 11 }], 10),
      (e: unknown) => e instanceof LimitExceededError && /web=11: 11 instances of `web`; this control plane allows at most 10 per process type/.test(e.message),
    );
    // A relative change is checked only against the count it is added to.
    assert.doesNotThrow(() => checkScaleChanges([{ type: 'web', count: -3, relative: true }, { type: 'worker', count: 20, relative: true }], 10));
    assert.doesNotThrow(() => checkScaleChanges([{ type: 'web', count: 10 }], 10));
  });

  it('sets totals and adds differences to the stored counts, in order, without touching its input', () => {
    const counts = { web: 2, worker: 1 };
    const next = applyScale('shop', RELEASE, counts, [{ type: 'web', count: 3, relative: true }, { type: 'worker', count: 0 }, { type: 'web', count: -1, relative: true }], 10);
    assert.deepEqual(next, { web: 4, worker: 0 });
    assert.deepEqual(counts, { web: 2, worker: 1 });
  });

  it('refuses going below 0 or over the limit, naming the current count', () => {
    assert.throws(() => applyScale('shop', RELEASE, { web: 1 }, [{ type: 'web', count: -2, relative: true }], 10), /web-2: `web` has 1 instance; it cannot go below 0/);
    assert.throws(() => applyScale('shop', RELEASE, {}, [{ type: 'worker', count: -1, relative: true }], 10), /`worker` has 0 instances/);
    assert.throws(
      () => applyScale('shop', RELEASE, { web: 9 }, [{ type: 'web', count: 2, relative: true }], 10),
      (e: unknown) => e instanceof LimitExceededError && /web\+2: `web` would have 11 instances/.test(e.message),
    );
  });

  it('refuses the release phase and a type not in the release, naming the process types it has (not its release command)', () => {
    assert.throws(() => applyScale('shop', RELEASE, {}, [{ type: 'release', count: 1 }], 10), /`release` is the release phase command/);
    assert.throws(() => applyScale('shop', RELEASE, {}, [{ type: 'clock', count: 1 }], 10), /process type `clock` is not in release v3 of `shop` \(it has: web, worker\)$/);
    const releaseOnly = { ...RELEASE, processTypes: { release: 'node migrate.js' } };
    assert.throws(() => applyScale('shop', releaseOnly, {}, [{ type: 'web', count: 1 }], 10), /process type `web` is not in release v3 of `shop` \(it has no process types\)$/);
    // Not an inherited property either.
    assert.throws(() => requireTypeInRelease('shop', RELEASE, 'toString'), InvalidArgumentError);
  });

  it('forgets, with TYPE=0, the count of a type an earlier release had and the current one lacks; nothing else of such a type', () => {
    // worker=4 was kept when a deploy dropped `worker` (cli/dropped-types.ts); web runs on.
    const webOnly = { ...RELEASE, processTypes: { web: 'node web.js' } };
    assert.deepEqual(applyScale('shop', webOnly, { web: 1, worker: 4 }, [{ type: 'worker', count: 0 }], 10), { web: 1, worker: 0 });
    assert.throws(() => applyScale('shop', webOnly, { web: 1, worker: 4 }, [{ type: 'worker', count: 1 }], 10), /process type `worker` is not in release v3/);
    assert.throws(() => applyScale('shop', webOnly, { web: 1, worker: 4 }, [{ type: 'worker', count: -1, relative: true }], 10), /process type `worker` is not in release v3/);
    // A type no release had is still refused, 0 or not.
    assert.throws(() => applyScale('shop', webOnly, { web: 1 }, [{ type: 'clock', count: 0 }], 10), /process type `clock` is not in release v3/);
  });

  it('needs a release with code', () => {
    assert.throws(() => releaseWithCode('shop', undefined), (e: unknown) => e instanceof FailedPreconditionError && /^app `shop` has no release deployed yet: deploy its code with `cluster deploy DIR -a shop`$/.test(e.message));
    assert.throws(() => releaseWithCode('shop', { ...RELEASE, slug: '' }), FailedPreconditionError);
    assert.equal(releaseWithCode('shop', RELEASE), RELEASE);
  });
});
