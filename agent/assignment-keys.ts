/** The keys a Reconciler (reconciler.ts) files instances and their assignments under. */
import type { Assignment__Output as Assignment } from '../proto/gen/cluster/agent/Assignment';
import { createHash } from 'node:crypto';

/** The slot (and state file) key of an instance. */
export function keyOf(app: string, instance: string): string {
  return `${app}/${instance}`;
}

/**
 * A digest of the fields whose change means the process must be restarted (a new grace period
 * does not). The release stands for its command and config: changing either makes a new release.
 */
export function specKey(a: Assignment): string {
  return createHash('sha256').update(JSON.stringify([a.release, a.slug, a.restart_token])).digest('base64url');
}

/**
 * Whether two assignments of one slot are of the same app: one destroyed and created again under
 * its name is another app, though its release numbers, code and restart token may be the old
 * one's (so specKey() alone cannot tell). A creation time not said (0: from a control plane, or
 * in the record of an agent, from before it was sent) matches any, so that an upgrade restarts
 * nothing.
 */
export function sameAppCreation(a: Assignment, b: Assignment): boolean {
  const x = a.app_created_at_ms ?? 0;
  const y = b.app_created_at_ms ?? 0;
  return x === 0 || y === 0 || x === y;
}

/** The app and instance of a keyOf() key (an app name has no slash). */
export function splitKey(key: string): [string, string] {
  const slash = key.indexOf('/');
  return [key.slice(0, slash), key.slice(slash + 1)];
}

/** Why an instance restarts for a new assignment. */
export function describeChange(from: Assignment, to: Assignment): string {
  if (!sameAppCreation(from, to)) return 'the app was destroyed and created again';
  if (from.release !== to.release) return `deploying release v${to.release}`;
  if (from.restart_token !== to.restart_token) return 'restart requested';
  return 'configuration changed';
}
