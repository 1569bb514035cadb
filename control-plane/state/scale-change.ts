/**
 * A `scale` request: checks its counts (whole, not negative, at most --max-per-type) before any
 * read, then applies it to the formation's counts read in the same transaction (formation-writes.ts),
 * so a relative change (`worker+2`) adds to the count stored now.
 */
import { InvalidArgumentError, LimitExceededError } from '../errors';
import type { ReleaseRecord } from '../records';
import { DEFAULT_MAX_PER_TYPE, MAX_PER_TYPE_FLAG } from '../../lib/limits';
import { RELEASE_PHASE_TYPE } from '../../lib/release-phase';
import { requireTypeInRelease } from './release-types';

/** One change of `scale`: a total (`worker=3`) or, relative, a difference (`worker+2`, `worker-1`). */
export interface ScaleChange {
  type: string;
  count: number;
  relative?: boolean;
}

/** A change as the user wrote it: `worker=3`, `worker+2`, `worker-1`. */
export function describeChange({ type, count, relative }: ScaleChange): string {
  if (!relative) return `${type}=${count}`;
  return count < 0 ? `${type}${count}` : `${type}+${count}`;
}

/** Refuses a request that is wrong whatever the formation: none, a count not whole, a total over the limit. */
export function checkScaleChanges(changes: ScaleChange[], maxPerType: number): void {
  if (changes.length === 0) throw new InvalidArgumentError('nothing to scale: give TYPE=N');
  // As the CLI refuses it (worker=1 worker=2): a type given twice is a mistake, not a sequence.
  const given = new Map<string, ScaleChange>();
  for (const change of changes) {
    const first = given.get(change.type);
    if (first) throw new InvalidArgumentError(`${describeChange(change)}: process type \`${change.type}\` is already given as ${describeChange(first)}`);
    given.set(change.type, change);
  }
  for (const { type, count, relative } of changes) {
    if (!Number.isInteger(count) || (!relative && count < 0)) {
      throw new InvalidArgumentError(`${describeChange({ type, count, relative })}: the count must be a whole number, 0 or more`);
    }
    // A relative change is checked against the count it is added to, in applyScale.
    if (!relative && count > maxPerType) throw overMaxPerType({ type, count }, count, maxPerType);
  }
}

/**
 * The counts after the changes, applied in order to `counts` (not modified). Every type must be
 * in the app's current release (`release`, with code) and not be its release phase, but for
 * `TYPE=0` of a type whose count the formation kept from an earlier release: a deploy that drops
 * a type keeps its count for a release that has it again (cli/dropped-types.ts), and this is how
 * it is forgotten.
 */
export function applyScale(
  name: string,
  release: ReleaseRecord,
  counts: Record<string, number>,
  changes: ScaleChange[],
  maxPerType: number,
): Record<string, number> {
  for (const { type } of changes) {
    if (type === RELEASE_PHASE_TYPE) {
      throw new InvalidArgumentError(`\`${RELEASE_PHASE_TYPE}\` is the release phase command: it runs once per release, before the rollout, and cannot be scaled`);
    }
  }
  for (const { type, count, relative } of changes) {
    if (!relative && count === 0 && Object.hasOwn(counts, type)) continue;
    requireTypeInRelease(name, release, type);
  }
  const next = { ...counts };
  for (const change of changes) {
    const current = Object.hasOwn(next, change.type) ? next[change.type]! : 0;
    const count = change.relative ? current + change.count : change.count;
    if (count < 0) {
      throw new InvalidArgumentError(`${describeChange(change)}: \`${change.type}\` has ${current} instance${current === 1 ? '' : 's'}; it cannot go below 0`);
    }
    if (count > maxPerType) throw overMaxPerType(change, count, maxPerType);
    next[change.type] = count;
  }
  return next;
}

/** The refusal of a count over --max-per-type, naming the limit and the flag that sets it. */
function overMaxPerType(change: ScaleChange, count: number, maxPerType: number): LimitExceededError {
  const over = change.relative ? `\`${change.type}\` would have ${count} instances` : `${count} instances of \`${change.type}\``;
  return new LimitExceededError(
    `${describeChange(change)}: ${over}; this control plane allows at most ${maxPerType} per process type (its ${MAX_PER_TYPE_FLAG}, default ${DEFAULT_MAX_PER_TYPE})`,
  );
}
