/**
 * The releases users ask for that are built from the current one: a config change
 * (`config:set`/`config:unset`) and a rollback. Each checks its input and returns the change
 * release-writes.ts applies to the release it reads in its revision-checked transaction.
 */
import { FailedPreconditionError, InvalidArgumentError, NotFoundError } from '../errors';
import { noReleaseYet } from '../../lib/no-release-yet';
import { noSuchRelease } from '../../lib/no-such-release';
import type { ReleaseRecord } from '../records';
import { DEFAULT_RELEASE_TIMEOUT_SECONDS } from '../../lib/release-phase';
import { configKeyProblem } from '../../lib/names';
import { configValueProblem } from '../../lib/nul-byte';
import type { ReleaseChange } from './release-writes';

/**
 * A config change that changes nothing: every key to unset is not set (and nothing is set). No
 * release is made; `release` is the current one (undefined before the first).
 */
export class ConfigUnchanged extends Error {
  override name = 'ConfigUnchanged';
  constructor(
    readonly release: ReleaseRecord | undefined,
    readonly notSet: string[],
  ) {
    super(`not set: ${notSet.join(', ')}`);
  }
}

/**
 * Sets and unsets config vars (keys validated; values never described). Throws at once on bad
 * input; the returned change throws if a key to unset is not set in the release it is applied to,
 * or, with `skipNotSet`, leaves such keys alone (ConfigUnchanged, naming them, when that leaves
 * nothing to change). Which keys are set is decided on the release the change is applied
 * to, in the same revision-checked transaction: a concurrent change cannot slip in between.
 */
export function configChange(set: Record<string, string>, unset: string[], skipNotSet = false): ReleaseChange {
  for (const [key, value] of Object.entries(set)) {
    const problem = configKeyProblem(key) ?? configValueProblem(key, value);
    if (problem) throw new InvalidArgumentError(problem);
  }
  for (const key of unset) {
    const problem = configKeyProblem(key, true);
    if (problem) throw new InvalidArgumentError(problem);
  }
  for (const key of unset) {
    if (Object.hasOwn(set, key)) throw new InvalidArgumentError(`\`${key}\` is both set and unset`);
  }
  if (Object.keys(set).length + unset.length === 0) throw new InvalidArgumentError('nothing to change: give KEY=VALUE or KEY');
  return (previous) => {
    const env = { ...(previous?.env ?? {}) };
    const missing = unset.filter((k) => !Object.hasOwn(env, k));
    if (missing.length > 0 && !skipNotSet) throw new InvalidArgumentError(`not set: ${missing.join(', ')}`);
    const unsetting = unset.filter((k) => Object.hasOwn(env, k));
    if (Object.keys(set).length + unsetting.length === 0) throw new ConfigUnchanged(previous, missing);
    for (const key of unsetting) delete env[key];
    Object.assign(env, set);
    const parts = [];
    if (Object.keys(set).length > 0) parts.push(`Set ${Object.keys(set).join(', ')}`);
    if (unsetting.length > 0) parts.push(`Unset ${unsetting.join(', ')}`);
    return {
      slug: previous?.slug ?? '',
      processTypes: previous?.processTypes ?? {},
      env,
      description: parts.join('; '),
      releasePhase: { timeoutMs: DEFAULT_RELEASE_TIMEOUT_SECONDS * 1000 },
    };
  };
}

/**
 * A new release equal (code and config) to release `version` of app `name`; 0 means the one
 * before the current. No release phase, as on Heroku.
 */
export function rollbackChange(
  name: string,
  version: number,
  getRelease: (version: number) => Promise<ReleaseRecord | undefined>,
): ReleaseChange {
  return async (previous) => {
    if (!Number.isInteger(version) || version < 0) throw new InvalidArgumentError(`invalid release number ${version}`);
    // Every release after the first deploy has code (config changes keep it): none means never deployed.
    if (!previous?.slug) {
      throw new FailedPreconditionError(`nothing to roll back to: ${noReleaseYet(name)}`);
    }
    const current = previous?.version ?? 0;
    const target = version > 0 ? version : current - 1;
    if (target <= 0) throw new InvalidArgumentError(`\`${name}\` has no earlier release to roll back to`);
    const release = await getRelease(target);
    if (!release) throw new NotFoundError(noSuchRelease(name, target, current));
    if (!release.slug) throw new InvalidArgumentError(`release v${target} of \`${name}\` has no code (it was made before the first deploy)`);
    return { slug: release.slug, processTypes: release.processTypes, env: release.env, description: `Rollback to v${target}` };
  };
}
