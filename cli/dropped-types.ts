/**
 * A new release (a deploy, a rollback) whose process types lack one the formation runs stops
 * every instance of that type. That is right (a type the code no longer has cannot run), but
 * done silently a renamed or mistyped Procfile line took an app's workers down unnoticed, so
 * deploy and rollback name what stops. The count is kept in the formation: a later release
 * that has the type runs its instances again, unless `ps:scale TYPE=0` forgets it first.
 */
import type { ClusterApiClient } from '../proto/gen/cluster/api/ClusterApi';
import type { ReleaseInfo__Output } from '../proto/gen/cluster/api/ReleaseInfo';
import { callUnary } from '../lib/grpc-call';

/** The warning for the formation's types (count > 0) missing from `releaseTypes`; undefined when none is. */
export function droppedTypesWarning(
  app: string,
  version: number,
  formation: ReadonlyArray<{ type: string; count: number }>,
  releaseTypes: readonly string[],
): string | undefined {
  const kept = new Set(releaseTypes);
  const dropped = formation.filter((f) => f.count > 0 && !kept.has(f.type)).sort((a, b) => a.type.localeCompare(b.type));
  if (dropped.length === 0) return undefined;
  const counts = dropped.map((f) => `${f.type}=${f.count}`).join(' ');
  const names = dropped.map((f) => `\`${f.type}\``).join(', ');
  const instances = dropped.reduce((sum, f) => sum + f.count, 0);
  const zeros = dropped.map((f) => `${f.type}=0`).join(' ');
  return (
    `v${version} of ${app} has no ${names} process type${dropped.length > 1 ? 's' : ''}, so ${counts} stop${dropped.length > 1 ? '' : 's'} ` +
    `(${instances} instance${instances > 1 ? 's' : ''}) once it runs; the count is kept for a later release that has ${dropped.length > 1 ? 'them' : 'it'} ` +
    `(\`cluster ps:scale ${zeros} -a ${app}\` forgets ${dropped.length > 1 ? 'them' : 'it'})`
  );
}

/** Writes droppedTypesWarning for `release` to stderr; a failure to read the formation says nothing (the release is made). */
export async function warnOfDroppedTypes(api: ClusterApiClient, app: string, release: ReleaseInfo__Output): Promise<void> {
  if (!release.slug) return; // config set before the first deploy: no code, nothing runs
  const ps = await callUnary(api, 'Ps', { app, states_only: true }).catch(() => undefined);
  if (!ps) return;
  const warning = droppedTypesWarning(app, release.version, ps.formation, release.process_types.map((t) => t.name));
  if (warning) process.stderr.write(`warning: ${warning}\n`);
}
