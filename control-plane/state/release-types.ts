/**
 * The checks a formation change makes against the app's current release: it has code, and it
 * has the process types the change names. Shared by scale-change.ts and formation-settings.ts.
 */
import { FailedPreconditionError, InvalidArgumentError } from '../errors';
import { noReleaseYet } from '../../lib/no-release-yet';
import { processTypeProblem } from '../../lib/names';
import type { ReleaseRecord } from '../records';
import { processTypeNames } from '../../lib/release-phase';

/** The current release if it has code, else FailedPrecondition naming the command to run. */
export function releaseWithCode(name: string, release: ReleaseRecord | undefined): ReleaseRecord {
  if (!release || !release.slug) {
    throw new FailedPreconditionError(noReleaseYet(name));
  }
  return release;
}

/** Throws unless `type` is in `release`, naming the process types it has (not its release command). */
export function requireTypeInRelease(name: string, release: ReleaseRecord, type: string): void {
  if (!Object.hasOwn(release.processTypes, type)) {
    throw new InvalidArgumentError(`process type \`${type}\` is not in release v${release.version} of \`${name}\` (${typesItHas(release)})`);
  }
}

/**
 * Throws unless a per-type setting (grace, boot timeout, log mode, placement) may name `type`:
 * a type of the newest release, deployed or not (set ahead of its release phase); any
 * well-formed type before the app's code was first deployed (set ahead of it: there is nothing
 * to check against yet); and a type the newest release lacks only to clear the setting it has
 * (`clears`), as `scale TYPE=0` forgets a kept count, so that a setting made ahead for a type
 * the code never had can be removed.
 */
export function requireSettableType(name: string, newest: ReleaseRecord | undefined, type: string, clears: boolean): void {
  const problem = processTypeProblem(type);
  if (problem) throw new InvalidArgumentError(problem);
  if (!newest?.slug || clears) return;
  requireTypeInRelease(name, newest, type);
}

/** `it has: web, worker` (not the release command, which is no process type), or `it has no process types`. */
export function typesItHas(release: ReleaseRecord): string {
  const known = processTypeNames(Object.keys(release.processTypes));
  return known.length > 0 ? `it has: ${known.join(', ')}` : 'it has no process types';
}

/**
 * Throws when `type` is only in a newer release that is not deployed (its release command still
 * runs, or failed): scale, restart and stop act on what runs, and a count for a type that runs
 * nowhere would have `--wait` wait for nothing. Otherwise the usual checks follow.
 */
export function requireDeployedType(name: string, releases: { running?: ReleaseRecord; newest?: ReleaseRecord }, type: string): void {
  const { running, newest } = releases;
  if (running && Object.hasOwn(running.processTypes, type)) return;
  if (!newest || newest.version === running?.version || !Object.hasOwn(newest.processTypes, type)) return;
  const why = newest.phase?.state === 'failed' ? `its release command failed (${newest.phase.reason ?? 'see its logs'})` : 'its release command is still running';
  const runs = running?.slug ? `v${running.version} runs` : 'nothing runs yet';
  throw new FailedPreconditionError(`process type \`${type}\` is only in v${newest.version} of \`${name}\`, which is not deployed: ${why}; ${runs} (see \`cluster releases -a ${name}\`)`);
}
