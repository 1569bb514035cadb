/**
 * What became of scheduled runs, as agents report it, and how a job's state records it
 * (docs/scheduled-jobs.md): pure, so the leader's loop (cron-loop.ts) only learns and writes.
 */
import { HISTORY_LENGTH } from '../../lib/cron/job-input';
import type { RunExit__Output } from '../../proto/gen/cluster/run/RunExit';
import type { JobRecord, JobStateRecord, RunRecord, RunState } from './records';

/** What became of a run, learnt from an agent; recorded by the next pass. */
export type Outcome =
  | { kind: 'started'; startedAtMs: number }
  | { kind: 'exit'; exit: RunExit__Output }
  | { kind: 'ended'; state: RunState; reason: string };

/** The key runs (and jobs) are followed by: `app/instance`. */
export const runKey = (app: string, instance: string) => `${app}/${instance}`;

/** The job's state with the `outcomes` learnt since the last pass, or undefined when nothing changed. */
export function withOutcomes(job: JobRecord, state: JobStateRecord, outcomes: ReadonlyMap<string, Outcome>): JobStateRecord | undefined {
  let changed = false;
  const active: RunRecord[] = [];
  const finished: RunRecord[] = [];
  for (const run of state.active) {
    const outcome = outcomes.get(runKey(job.app, run.instance));
    if (!outcome) {
      active.push(run);
      continue;
    }
    if (outcome.kind === 'started') {
      if (run.state === 'claimed') {
        active.push({ ...run, state: 'running', startedAtMs: outcome.startedAtMs });
        changed = true;
      } else {
        active.push(run);
      }
      continue;
    }
    changed = true;
    finished.push(outcome.kind === 'exit' ? finishedRun(run, outcome.exit) : { ...run, state: outcome.state, reason: outcome.reason, finishedAtMs: Date.now() });
  }
  if (!changed) return undefined;
  // Newest first, by tick then run number: outcomes recorded in several passes (a leader that
  // paused, a run that ended late) came out of order when each batch went on top of the last.
  const history = [...finished, ...state.history].sort((a, b) => b.tickMs - a.tickMs || runNumber(b.instance) - runNumber(a.instance));
  return { ...state, active, history: history.slice(0, HISTORY_LENGTH) };
}

/** N of `run.N` (0 for anything else). */
function runNumber(instance: string): number {
  const n = Number(instance.slice(instance.indexOf('.') + 1));
  return Number.isInteger(n) ? n : 0;
}

/** A run record completed with the exit its agent reported. */
export function finishedRun(run: RunRecord, exit: RunExit__Output): RunRecord {
  const state: RunState = exit.timed_out ? 'timed-out' : exit.stopped ? 'stopped' : exit.status === 0 ? 'succeeded' : 'failed';
  const reason = exit.timed_out ? 'ran longer than its timeout' : exit.stopped ? (run.reason ?? 'stopped on request') : exit.stopped_by_agent || run.reason;
  return {
    ...run,
    state,
    startedAtMs: exit.started_at_ms || run.startedAtMs,
    finishedAtMs: exit.finished_at_ms || Date.now(),
    exitStatus: exit.status,
    ...(exit.signal ? { signal: exit.signal } : {}),
    ...(reason ? { reason } : {}),
  };
}

