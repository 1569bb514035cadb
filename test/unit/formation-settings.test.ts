/** The per-type settings of a formation: input checks and how they change it (control-plane/state/formation-settings.ts). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { bootTimeoutSettings, graceSettings, logModeSettings, MAX_RULE_LABELS, placementSettings } from '../../control-plane/state/formation-settings';
import { InvalidArgumentError, LimitExceededError } from '../../control-plane/errors';
import { MAX_GRACE_SECONDS } from '../../lib/limits';
import type { FormationRecord } from '../../control-plane/records';

const FORMATION: FormationRecord = {
  counts: { web: 1 },
  restartTokens: {},
  graceMs: { web: 5000, worker: 9000 },
  logModes: { worker: 'non-blocking' },
  bootTimeoutMs: { web: 30_000, worker: 10_000 },
  placement: { worker: { labels: { disk: 'ssd' } } },
};

describe('formation settings', () => {
  it('grace: refuses no change and a period out of range; 0 returns a type to the default', () => {
    assert.throws(() => graceSettings([]), /nothing to set: give TYPE=SECONDS/);
    assert.throws(() => graceSettings([{ type: 'web', seconds: -1 }]), InvalidArgumentError);
    assert.throws(() => graceSettings([{ type: 'web', seconds: MAX_GRACE_SECONDS + 1 }]), /the grace period must be from 0 to/);
    assert.throws(() => graceSettings([{ type: 'web', seconds: Number.NaN }]), InvalidArgumentError);
    const next = graceSettings([{ type: 'web', seconds: 0 }, { type: 'clock', seconds: 1.5 }])(FORMATION);
    assert.deepEqual(next.graceMs, { worker: 9000, clock: 1500 });
    assert.deepEqual(next.counts, FORMATION.counts, 'other fields kept');
    assert.deepEqual(FORMATION.graceMs, { web: 5000, worker: 9000 }, 'input not modified');
  });

  it('log mode: refuses an unknown mode; blocking is stored as no entry', () => {
    assert.throws(() => logModeSettings([]), /nothing to set/);
    assert.throws(() => logModeSettings([{ type: 'web', mode: 'lossy' }]), InvalidArgumentError);
    const next = logModeSettings([{ type: 'worker', mode: 'blocking' }, { type: 'web', mode: 'non-blocking' }])(FORMATION);
    assert.deepEqual(next.logModes, { web: 'non-blocking' });
  });

  it('boot timeout: refuses a bad value; 0 removes the setting', () => {
    assert.throws(() => bootTimeoutSettings([]), /nothing to set/);
    assert.throws(() => bootTimeoutSettings([{ type: 'web', seconds: -5 }]), InvalidArgumentError);
    assert.throws(() => bootTimeoutSettings([{ type: 'web', seconds: 0 }]), /web instances always wait for \$PORT/);
    const next = bootTimeoutSettings([{ type: 'worker', seconds: 0 }, { type: 'clock', seconds: 20 }])(FORMATION);
    assert.deepEqual(next.bootTimeoutMs, { web: 30_000, clock: 20_000 });
    // web=60 is web's default: no entry, as for a type never set (another type's 60 is a setting).
    const back = bootTimeoutSettings([{ type: 'web', seconds: 60 }, { type: 'clock', seconds: 60 }])(FORMATION);
    assert.deepEqual(back.bootTimeoutMs, { worker: 10_000, clock: 60_000 });
  });

  it('placement: refuses a type given twice, too many labels and bad labels or datacenters', () => {
    assert.throws(() => placementSettings([]), /nothing to set: give a process type and its rule/);
    assert.throws(() => placementSettings([{ type: 'web', labels: {} }, { type: 'web', labels: {} }]), /process type `web` is given twice/);
    const many = Object.fromEntries(Array.from({ length: MAX_RULE_LABELS + 1 }, (_, i) => [`k${i}`, 'v']));
    assert.throws(() => placementSettings([{ type: 'web', labels: many }]), (e: unknown) => e instanceof LimitExceededError && /has 21 labels; at most 20/.test(e.message));
    assert.throws(() => placementSettings([{ type: 'web', labels: { 'bad key!': 'v' } }]), InvalidArgumentError);
    assert.throws(() => placementSettings([{ type: 'web', labels: {}, datacenter: 'no spaces allowed' }]), InvalidArgumentError);
  });

  it('placement: sets a rule, and a rule with neither labels nor datacenter removes it; other types keep theirs', () => {
    const next = placementSettings([{ type: 'web', labels: { zone: 'a' }, datacenter: 'dc1' }])(FORMATION);
    assert.deepEqual(next.placement, { worker: { labels: { disk: 'ssd' } }, web: { labels: { zone: 'a' }, datacenter: 'dc1' } });
    const cleared = placementSettings([{ type: 'worker', labels: {} }])(next);
    assert.deepEqual(cleared.placement, { web: { labels: { zone: 'a' }, datacenter: 'dc1' } });
  });
});
