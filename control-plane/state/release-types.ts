/**
 * The checks a formation change makes against the app's current release: it has code, and it
 * has the process types the change names. Shared by scale-change.ts and formation-settings.ts.
 */
import { FailedPreconditionError, InvalidArgumentError } from '../errors';
import type { ReleaseRecord } from '../records';

/** The current release if it has code, else FailedPrecondition naming the command to run. */
export function releaseWithCode(name: string, release: ReleaseRecord | undefined): ReleaseRecord {
  if (!release || !release.slug) {
    throw new FailedPreconditionError(`app \`${name}\` has no code yet: deploy it first (cluster deploy -a ${name})`);
  }
  return release;
}

/** Throws unless `type` is a process type of `release`, naming the types it has. */
export function requireTypeInRelease(name: string, release: ReleaseRecord, type: string): void {
  if (!Object.hasOwn(release.processTypes, type)) {
    const known = Object.keys(release.processTypes).join(', ');
    throw new InvalidArgumentError(`process type \`${type}\` is not in release v${release.version} of \`${name}\` (it has: ${known})`);
  }
}
