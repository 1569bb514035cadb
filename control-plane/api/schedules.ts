/** schedule, schedule:add, schedule:remove, schedule:run (docs/scheduled-jobs.md). */
import type { ClusterApiHandlers } from '../../proto/gen/cluster/api/ClusterApi';
import type { ScheduleInfo } from '../../proto/gen/cluster/api/ScheduleInfo';
import type { ScheduledRun } from '../../proto/gen/cluster/api/ScheduledRun';
import { canonicalTimeZone, nextTick, parseSchedule } from '../../lib/cron/schedule';
import type { JobWithState } from '../cron/job-store';
import type { RunRecord } from '../cron/records';
import type { ApiContext } from '../rpc/context';
import { requestIdOf } from '../rpc/request-id';
import { unary } from '../rpc/status';

/** How long `schedule:run` waits for the leader to start the run before answering without it. */
const FIRE_WAIT_MS = 5_000;
const FIRE_POLL_MS = 100;

function toRunInfo(run: RunRecord): ScheduledRun {
  return {
    instance: run.instance,
    host: run.agentId,
    tick_ms: run.tickMs,
    manual: run.manual === true,
    state: run.state,
    started_at_ms: run.startedAtMs ?? 0,
    finished_at_ms: run.finishedAtMs ?? 0,
    exit_status: run.exitStatus ?? 0,
    signal: run.signal ?? '',
    reason: run.reason ?? '',
    release: run.release,
  };
}

export function toScheduleInfo({ job, state }: JobWithState): ScheduleInfo {
  let next: number | undefined;
  try {
    next = nextTick(parseSchedule(job.schedule, job.timeZone), Math.max(state.lastTickMs, Date.now()), job.createdAtMs);
  } catch {
    next = undefined; // logged by the leader
  }
  return {
    app: job.app,
    name: job.name,
    schedule: job.schedule,
    time_zone: job.timeZone,
    command: job.command,
    concurrency: job.concurrency,
    timeout_ms: job.timeoutMs,
    starting_deadline_ms: job.startingDeadlineMs,
    created_at_ms: job.createdAtMs,
    next_run_ms: next ?? 0,
    active: state.active.map(toRunInfo),
    history: state.history.map(toRunInfo),
    skipped: state.skipped,
    missed: state.missed,
    last_skipped_ms: state.lastSkippedTickMs ?? 0,
  };
}

export function scheduleHandlers(ctx: ApiContext): Pick<ClusterApiHandlers, 'AddSchedule' | 'ListSchedules' | 'RemoveSchedule' | 'FireSchedule'> {
  return {
    AddSchedule: unary(ctx.logger, async (req) => {
      const added = await ctx.jobs.add(req.app, {
        name: req.name,
        schedule: req.schedule,
        timeZone: canonicalTimeZone(req.time_zone),
        command: req.command,
        concurrency: req.concurrency,
        timeoutMs: req.timeout_ms,
        startingDeadlineMs: req.starting_deadline_ms,
      });
      ctx.logger.info({ app: req.app, job: added.job.name, schedule: added.job.schedule, timeZone: added.job.timeZone }, 'scheduled job added');
      return toScheduleInfo(added);
    }),
    ListSchedules: unary(ctx.logger, async (req) => ({ schedules: (await ctx.jobs.list(req.app)).map(toScheduleInfo) })),
    RemoveSchedule: unary(ctx.logger, async (req) => {
      await ctx.jobs.remove(req.app, req.name);
      ctx.logger.info({ app: req.app, job: req.name }, 'scheduled job removed');
      return {};
    }),
    FireSchedule: unary(ctx.logger, async (req, call) => {
      const request = await ctx.jobs.requestFire(req.app, req.name, requestIdOf(call));
      const deadline = Date.now() + FIRE_WAIT_MS;
      for (;;) {
        const { state } = await ctx.jobs.get(req.app, req.name);
        const run = [...state.active, ...state.history].find((r) => r.fireRequest === request);
        if (run && run.state !== 'claimed') return { run: toRunInfo(run), started: run.state !== 'not-started' };
        if (Date.now() > deadline) return { run: run && toRunInfo(run), started: false };
        await new Promise((resolve) => setTimeout(resolve, FIRE_POLL_MS));
      }
    }),
  };
}
