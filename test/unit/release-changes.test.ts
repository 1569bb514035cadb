/** Config changes and rollbacks built from the current release (control-plane/state/release-changes.ts). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigUnchanged, configChange, rollbackChange } from '../../control-plane/state/release-changes';
import { FailedPreconditionError, InvalidArgumentError, NotFoundError } from '../../control-plane/errors';
import type { ReleaseRecord } from '../../control-plane/records';
import { DEFAULT_RELEASE_TIMEOUT_SECONDS } from '../../lib/release-phase';

function release(version: number, slug: string, env: Record<string, string> = {}): ReleaseRecord {
  return { version, description: 'Deploy', createdAtMs: 0, slug, processTypes: { web: 'node web.js' }, env };
}

describe('config change', () => {
  it('refuses bad keys, a key both set and unset, and no change, before any read', () => {
    assert.throws(() => configChange({ '1BAD': 'x' }, []), InvalidArgumentError);
    assert.throws(() => configChange({}, ['__proto__']), /invalid config key `__proto__`/);
    assert.throws(() => configChange({ A: '1' }, ['A']), /`A` is both set and unset/);
    assert.throws(() => configChange({}, []), /nothing to change: give KEY=VALUE or KEY/);
  });

  it('refuses a NUL byte in a value or a key: no process environment can hold one', () => {
    assert.throws(
      () => configChange({ NULLY: 'a\0b' }, []),
      (err: unknown) => err instanceof InvalidArgumentError && err.message === 'the value of config var `NULLY` has a NUL byte (character 2), which no process can be started with: remove it',
    );
    assert.throws(() => configChange({ 'A\0B': 'x' }, []), (err: unknown) => err instanceof InvalidArgumentError && err.message.startsWith('invalid config key `A\\0B`'));
  });

  it("refuses the platform's names (PORT, DYNO, every CLUSTER_ one) but lets one an older version stored be unset", async () => {
    assert.throws(() => configChange({ PORT: '1' }, []), /`PORT` is set by the platform/);
    for (const key of ['CLUSTER_APP', 'CLUSTER_JOB', 'CLUSTER_SCHEDULED_AT', 'CLUSTER_ANYTHING']) {
      assert.throws(() => configChange({ [key]: 'x' }, []), new RegExp(`\`${key}\` cannot be configured: names starting with CLUSTER_ are the platform's`));
    }
    const next = await configChange({}, ['CLUSTER_OLD'])(release(2, 's', { CLUSTER_OLD: '1', A: '2' }));
    assert.deepEqual(next.env, { A: '2' });
    assert.ok(configChange({ CLUSTERED: '1', MY_CLUSTER_X: '1' }, []), 'only the prefix is the platform\'s');
  });

  it('sets and unsets on top of the current config, keeping code, with a description and a release phase', async () => {
    const next = await configChange({ B: '2', C: '3' }, ['A'])(release(4, 's', { A: '1', B: 'old' }));
    assert.deepEqual(next.env, { B: '2', C: '3' });
    assert.equal(next.slug, 's');
    assert.deepEqual(next.processTypes, { web: 'node web.js' });
    assert.equal(next.description, 'Set B, C; Unset A');
    assert.deepEqual(next.releasePhase, { timeoutMs: DEFAULT_RELEASE_TIMEOUT_SECONDS * 1000 });
  });

  it('works before the first release and refuses unsetting what is not set', async () => {
    const first = await configChange({ A: '1' }, [])(undefined);
    assert.deepEqual(first.env, { A: '1' });
    assert.equal(first.slug, '');
    assert.throws(() => configChange({}, ['X', 'A'])(release(1, 's', { A: '1' })), /not set: X/);
  });

  it('with skipNotSet, unsets the keys that are set, leaves the others, and changes nothing when none is', async () => {
    const next = await configChange({}, ['X', 'A', 'constructor'], true)(release(3, 's', { A: '1', B: '2' }));
    assert.deepEqual(next.env, { B: '2' });
    assert.equal(next.description, 'Unset A');
    const current = release(3, 's', { B: '2' });
    assert.throws(() => configChange({}, ['X'], true)(current), (err: unknown) => {
      assert.ok(err instanceof ConfigUnchanged, String(err));
      assert.equal(err.release, current);
      assert.deepEqual(err.notSet, ['X']);
      return true;
    });
    assert.throws(() => configChange({}, ['X'], true)(undefined), ConfigUnchanged, 'before the first release too');
    const set = await configChange({ C: '3' }, ['X'], true)(current);
    assert.deepEqual(set.env, { B: '2', C: '3' });
    assert.equal(set.description, 'Set C');
  });

  it("takes keys named like Object's members as any other", async () => {
    assert.throws(() => configChange({}, ['constructor'])(release(1, 's', {})), /not set: constructor/);
    const next = await configChange({ constructor: '1' }, ['toString'])(release(1, 's', { toString: 'x' }));
    assert.deepEqual(next.env, { constructor: '1' });
  });
});

describe('rollback change', () => {
  const releases = new Map([[1, release(1, '')], [2, release(2, 'old', { A: 'v2' })], [3, release(3, 'new', { A: 'v3' })]]);
  const get = (v: number) => Promise.resolve(releases.get(v));

  it('0 rolls back to the release before the current, copying its code and config, without a release phase', async () => {
    const next = await rollbackChange('shop', 0, get)(releases.get(3));
    assert.deepEqual(next, { slug: 'old', processTypes: { web: 'node web.js' }, env: { A: 'v2' }, description: 'Rollback to v2' });
  });

  it('refuses no earlier release, a missing one and one without code', async () => {
    await assert.rejects(Promise.resolve(rollbackChange('shop', 0, get)(release(1, 'first'))), /`shop` has no earlier release to roll back to/);
    await assert.rejects(Promise.resolve(rollbackChange('shop', 9, get)(releases.get(3))), (e: unknown) => e instanceof NotFoundError && /^shop has no release v9 \(it has v1 to v3\)$/.test(e.message));
    await assert.rejects(Promise.resolve(rollbackChange('shop', 1, get)(releases.get(3))), /release v1 of `shop` has no code/);
    // A negative number (a wrapped-around 32-bit one) is not "the previous release".
    await assert.rejects(Promise.resolve(rollbackChange('shop', -2147483648, get)(releases.get(3))), /invalid release number -2147483648/);
  });

  it('says an app never deployed has no release deployed yet, and to deploy, with or without releases of config only', async () => {
    const never = /^nothing to roll back to: app `shop` has no release deployed yet: deploy its code with `cluster deploy DIR -a shop`$/;
    for (const version of [0, 1]) {
      await assert.rejects(Promise.resolve(rollbackChange('shop', version, get)(undefined)), (e: unknown) => e instanceof FailedPreconditionError && never.test(e.message));
      await assert.rejects(Promise.resolve(rollbackChange('shop', version, get)(release(2, '', { A: '1' }))), (e: unknown) => e instanceof FailedPreconditionError && never.test(e.message));
    }
  });
});
