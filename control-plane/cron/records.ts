/** What scheduled jobs keep in etcd (docs/scheduled-jobs.md). */
import type { ConcurrencyPolicy } from '../../lib/cron/job-input';

/** `schedules/<app>/<job>`: written by the API (`schedule:add`, `schedule:run`). */
export interface JobRecord {
  name: string;
  app: string;
  schedule: string;
  timeZone: string;
  command: string;
  concurrency: ConcurrencyPolicy;
  /** 0: no timeout. */
  timeoutMs: number;
  startingDeadlineMs: number;
  /** When it was added: `@every` ticks count from here, and no tick before it runs. */
  createdAtMs: number;
  /** `schedule:run` presses so far; the leader fires once for each it has not handled. */
  fireRequests: number;
}

export type RunState =
  /** The tick is claimed and the run given a name and a host; not known to be started. */
  | 'claimed'
  | 'running'
  | 'succeeded'
  | 'failed'
  | 'timed-out'
  /** Stopped by `replace` or on request. */
  | 'stopped'
  /** Could not be started (no host, no code, the host refused). */
  | 'not-started'
  /** Its host went away or forgot it: the exit is unknown. */
  | 'lost'
  /** Ticks more than the starting deadline late when a leader could start them. */
  | 'missed';

export interface RunRecord {
  /** run.N; empty for missed ticks. */
  instance: string;
  agentId: string;
  /** The tick it runs for (for a `schedule:run`, when it was asked). */
  tickMs: number;
  manual?: boolean;
  /** A `schedule:run`'s request number (JobRecord.fireRequests), so the API can say which run it became. */
  fireRequest?: number;
  release: number;
  claimedAtMs: number;
  startedAtMs?: number;
  finishedAtMs?: number;
  state: RunState;
  exitStatus?: number;
  signal?: string;
  reason?: string;
}

/** `cronstate/<app>/<job>`: written by the leader only, each write fenced by its leadership. */
export interface JobStateRecord {
  /** The latest tick claimed (run, skipped or recorded missed): no tick up to it runs again. */
  lastTickMs: number;
  /** `schedule:run` requests handled (see JobRecord.fireRequests). */
  firesHandled: number;
  /** Runs claimed or running. */
  active: RunRecord[];
  /** Finished runs and missed ticks, newest first (HISTORY_LENGTH at most). */
  history: RunRecord[];
  /** Ticks skipped by `forbid` (or the cap of `allow`) while a run was still going. */
  skipped: number;
  lastSkippedTickMs?: number;
  /** Ticks recorded as missed. */
  missed: number;
}

export function emptyState(job: JobRecord): JobStateRecord {
  return { lastTickMs: job.createdAtMs, firesHandled: 0, active: [], history: [], skipped: 0, missed: 0 };
}
