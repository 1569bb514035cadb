/**
 * What a tick does while earlier runs of its job still go (`--concurrency`), as Kubernetes
 * CronJobs do: `forbid` skips the tick, `replace` stops the running ones and starts anew,
 * `allow` runs side by side (up to MAX_PARALLEL_RUNS, then skips).
 */
import type { ConcurrencyPolicy } from '../../lib/cron/job-input';

/** Runs of one job `allow` lets go at once: a runaway job cannot fill the cluster. */
export const MAX_PARALLEL_RUNS = 10;

export interface ConcurrencyDecision {
  /** Start a run for the tick (else the tick is skipped). */
  start: boolean;
  /** Stop the runs that still go. */
  stopActive: boolean;
}

export function decideConcurrency(policy: ConcurrencyPolicy, activeRuns: number): ConcurrencyDecision {
  if (activeRuns === 0) return { start: true, stopActive: false };
  switch (policy) {
    case 'forbid':
      return { start: false, stopActive: false };
    case 'replace':
      return { start: true, stopActive: true };
    case 'allow':
      return { start: activeRuns < MAX_PARALLEL_RUNS, stopActive: false };
  }
}
