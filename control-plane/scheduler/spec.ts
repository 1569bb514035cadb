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
    restartToken: groupRestartToken(group, instance),
    graceMs: group.graceMs,
    ...(group.bootTimeoutMs > 0 ? { bootTimeoutMs: group.bootTimeoutMs } : {}),
    ...(group.logsNonBlocking ? { logsNonBlocking: true } : {}),
  };
}

/**
 * Whether `spec` (an existing assignment of `group`) already runs what is desired. The release
 * number stands for its command and config: a change to either makes a new release.
 */
export function specMatches(spec: InstanceSpec, group: DesiredGroup): boolean {
  return (
    spec.type === group.type &&
    spec.release === group.release &&
    spec.slug === group.slug &&
    spec.graceMs === group.graceMs &&
    (spec.bootTimeoutMs ?? 0) === group.bootTimeoutMs &&
    (spec.logsNonBlocking ?? false) === group.logsNonBlocking &&
    spec.restartToken === groupRestartToken(group, spec.instance)
  );
}
