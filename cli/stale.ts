/** What `apps`, `agents` and `ps` print when the control plane could not read etcd lately. */
import type { Staleness__Output } from '../proto/gen/cluster/api/Staleness';
import { formatDuration } from './output/table';

/** The `stale` member of a --json answer: null when the view is current. */
export function staleJson(stale: Staleness__Output | null | undefined): { ageMs: number; reason: string } | null {
  return stale && stale.stale_ms > 0 ? { ageMs: Math.round(stale.stale_ms), reason: stale.reason } : null;
}

/**
 * When the answer is an old view, says so on stderr (after the listing, so it is the last
 * thing a user reads) and exits 2 like any other failure to reach etcd.
 */
export function warnIfStale(stale: Staleness__Output | null | undefined): void {
  if (!stale || stale.stale_ms <= 0) return;
  process.stderr.write(`error: ${stale.reason}: what is shown is as of ${formatDuration(stale.stale_ms)} ago and may no longer be true\n`);
  process.exitCode = 2;
}
