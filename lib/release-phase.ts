/**
 * The release phase (docs/boot-checks.md#release-phase): a Procfile's `release:` command runs
 * once per release, as a one-off `release.N` (N: the release version), before any instance
 * rolls. It is not a process type that can be scaled.
 */

/** The Procfile entry that declares the release command. */
export const RELEASE_PHASE_TYPE = 'release';

/** A release's process types: its entries without the release command (which is not scaled). */
export function processTypeNames(names: readonly string[]): string[] {
  return names.filter((name) => name !== RELEASE_PHASE_TYPE);
}

/**
 * A release's entries as users read them: its process types (what `scale` takes), then `with a
 * release command` when it has one, e.g. "web, worker, with a release command".
 */
export function describeTypes(names: readonly string[]): string {
  const types = processTypeNames(names);
  const release = types.length < names.length ? 'a release command' : '';
  if (types.length === 0) return release ? `no process types, ${release}` : 'no process types';
  return release ? `${types.join(', ')}, with ${release}` : types.join(', ');
}

/** The one-off name of release vN's release command. */
export function releaseRunName(version: number): string {
  return `${RELEASE_PHASE_TYPE}.${version}`;
}

/** Longest a release command may run by default (`deploy --release-timeout`), and at most. */
export const DEFAULT_RELEASE_TIMEOUT_SECONDS = 600;
export const MAX_RELEASE_TIMEOUT_SECONDS = 24 * 3600;

/** Why `--release-timeout SECONDS` is invalid (0 means the default), or undefined. */
export function releaseTimeoutProblem(seconds: number): string | undefined {
  if (!Number.isInteger(seconds) || seconds < 0 || seconds > MAX_RELEASE_TIMEOUT_SECONDS) {
    return `--release-timeout ${seconds}: give whole seconds from 1 to ${MAX_RELEASE_TIMEOUT_SECONDS} (default ${DEFAULT_RELEASE_TIMEOUT_SECONDS})`;
  }
  return undefined;
}

/**
 * An app's release as `cluster apps` and the dashboard say it: the one that runs (`none` before
 * one went live), and the newest when its release phase holds it back, in the words of
 * `releases`: `v2 (v3 release phase running)`, `v2 (v3 release phase failed: exited with status 3)`.
 */
export function describeLiveRelease(a: { release: number; running: number; newestPhase: string; newestPhaseReason: string }, none: string): string {
  const live = a.running ? `v${a.running}` : none;
  if (!a.release || a.release === a.running) return live;
  const reason = a.newestPhaseReason ? `: ${a.newestPhaseReason}` : '';
  return `${live} (v${a.release} release phase ${a.newestPhase || 'pending'}${reason})`;
}
