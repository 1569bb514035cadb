/** The spec an instance should run, and whether an existing assignment already runs it. */
import { groupRestartToken, type DesiredGroup } from './desired';
import type { Assignment, InstanceSpec } from './types';

/** The full spec of instance number `n` of `group`, placed on `agentId`. */
export function assignmentFor(group: DesiredGroup, n: number, agentId: string): Assignment {
  const instance = `${group.type}.${n}`;
  return {
    agentId,
    app: group.app,
    instance,
    type: group.type,
    release: group.release,
    slug: group.slug,
    command: group.command,
    // Shared, not copied: plans are plain data that is serialised, never mutated.
    env: group.env,
    restartToken: groupRestartToken(group, instance),
    graceMs: group.graceMs,
  };
}

/** Whether `spec` (an existing assignment of `group`) already runs what is desired. */
export function specMatches(spec: InstanceSpec, group: DesiredGroup): boolean {
  return (
    spec.type === group.type &&
    spec.release === group.release &&
    spec.slug === group.slug &&
    spec.command === group.command &&
    spec.graceMs === group.graceMs &&
    spec.restartToken === groupRestartToken(group, spec.instance) &&
    sameEnv(spec.env, group)
  );
}

// A stored env is normally serialised from the release's own env object, so its vars come in the
// same order: compare pair by pair, with no lookups in the release env (a third faster with 20
// vars, and this runs for every assignment on every pass). Listing the release env costs about
// one comparison, so small groups skip it. Any other order takes the slow path.
function sameEnv(stored: Record<string, string>, group: DesiredGroup): boolean {
  if (stored === group.env) return true;
  if (stored === null || typeof stored !== 'object') return false;
  if (group.count < 8) return sameEnvAnyOrder(stored, group.env, group.envSize);
  const { names, values } = (group.envOrder ??= listEnv(group.env));
  let i = 0;
  for (const name in stored) {
    if (name !== names[i] || stored[name] !== values[i]) return sameEnvAnyOrder(stored, group.env, group.envSize);
    i++;
  }
  return i === names.length;
}

// for-in, like the walk over stored envs above, so both list vars the same way.
function listEnv(env: Record<string, string>): { names: string[]; values: string[] } {
  const names: string[] = [];
  const values: string[] = [];
  for (const name in env) {
    names.push(name);
    values.push(env[name]!);
  }
  return { names, values };
}

// Key order is irrelevant: the same vars listed differently must not restart anything. Values
// are strings, so `a[key] !== b[key]` also catches a key `b` lacks (even `constructor`, which `b`
// would inherit as a function); with equal key counts the two sets of names are then equal.
function sameEnvAnyOrder(a: Record<string, string>, b: Record<string, string>, bKeys: number): boolean {
  let keys = 0;
  for (const key in a) {
    if (a[key] !== b[key]) return false;
    keys++;
  }
  return keys === bKeys;
}
