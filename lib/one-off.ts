/**
 * One-off processes: `cluster run` (and scheduled jobs) as `run.N`, a release's command as
 * `release.N`. They share instance names with the formation (type.N) but belong to no formation:
 * they run once, are never restarted or moved, and end on `ps:stop`.
 */
import { parseInstanceName } from './names';
import { RELEASE_PHASE_TYPE } from './release-phase';

/** The type of `cluster run`'s one-offs (`run.7`): no Procfile may declare it. */
export const RUN_TYPE = 'run';

/** Whether instances of `type` are one-offs: `run` and the release command's `release`. */
export function isOneOffType(type: string): boolean {
  return type === RUN_TYPE || type === RELEASE_PHASE_TYPE;
}

/** Whether `instance` names a one-off (`run.7`, `release.12`). */
export function isOneOffInstance(instance: string): boolean {
  const type = parseInstanceName(instance)?.type;
  return type !== undefined && isOneOffType(type);
}

/**
 * Why a Procfile or compose file may not declare `type`, when it names one-offs: `run.1` of a
 * `run:` formation would be taken for `cluster run`'s first process (ps, ps:stop, logs -d).
 * `release` stays allowed: it declares the release command.
 */
export function oneOffTypeClash(type: string): string | undefined {
  return type === RUN_TYPE ? `names \`cluster run\`'s one-off processes (run.1, run.2 …): choose another name` : undefined;
}
