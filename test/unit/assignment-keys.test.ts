import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { describeChange, keyOf, sameAppCreation, specKey, splitKey } from '../../agent/assignment-keys';
import { assignment } from '../helpers/assignments';

const base = assignment({ instance: 'web.1', type: 'web', release: 3, restart_token: 't1' });

describe('assignment keys', () => {
  it('keyOf and splitKey are inverses: the split is at the first slash (app names have none)', () => {
    assert.equal(keyOf('shop', 'web.1'), 'shop/web.1');
    assert.deepEqual(splitKey(keyOf('shop', 'web.1')), ['shop', 'web.1']);
    assert.deepEqual(splitKey(keyOf('shop', 'run/7')), ['shop', 'run/7']);
  });

  it('specKey changes with the release, the slug and the restart token only', () => {
    const key = specKey(base);
    assert.match(key, /^[A-Za-z0-9_-]{43}$/, 'a base64url SHA-256');
    assert.equal(specKey({ ...base }), key, 'a copy has the same key');
    assert.notEqual(specKey({ ...base, release: 4 }), key);
    assert.notEqual(specKey({ ...base, slug: 'b'.repeat(64) }), key);
    assert.notEqual(specKey({ ...base, restart_token: 't2' }), key);
    // These apply to the running process without a restart (or from its next start).
    assert.equal(specKey({ ...base, grace_ms: 30_000 }), key);
    assert.equal(specKey({ ...base, boot_timeout_ms: 5_000 }), key);
    assert.equal(specKey({ ...base, logs_non_blocking: true }), key);
  });

  it('describeChange names a new release first, then a restart request', () => {
    assert.equal(describeChange(base, { ...base, release: 4, restart_token: 't2' }), 'deploying release v4');
    assert.equal(describeChange(base, { ...base, restart_token: 't2' }), 'restart requested');
    assert.equal(describeChange(base, { ...base, slug: 'b'.repeat(64) }), 'configuration changed');
  });

  it('sameAppCreation tells an app destroyed and created again apart, and a time not said matches any', () => {
    const old = { ...base, app_created_at_ms: 1_700_000_000_000 };
    const again = { ...base, app_created_at_ms: 1_700_000_600_000 };
    assert.equal(sameAppCreation(old, { ...old }), true);
    assert.equal(sameAppCreation(old, again), false);
    // An agent's record, or a control plane, from before the time was sent: an upgrade restarts nothing.
    assert.equal(sameAppCreation({ ...base, app_created_at_ms: 0 }, again), true);
    assert.equal(sameAppCreation(old, { ...base, app_created_at_ms: 0 }), true);
    assert.equal(describeChange(old, again), 'the app was destroyed and created again');
    assert.equal(describeChange(old, { ...again, release: 4 }), 'the app was destroyed and created again');
  });
});
