/**
 * cluster schedule, schedule:add, schedule:remove, schedule:run: scheduled jobs, each firing
 * a one-off process (run.N) with the release and config current then. docs/scheduled-jobs.md.
 */
import type { Command } from 'commander';
import type { ScheduleInfo__Output } from '../../proto/gen/cluster/api/ScheduleInfo';
import type { ScheduledRun__Output } from '../../proto/gen/cluster/api/ScheduledRun';
import { callUnary } from '../../lib/grpc-call';
import { formatDuration as formatInterval } from '../../lib/cron/duration';
import { CONCURRENCY_POLICIES, DEFAULT_STARTING_DEADLINE_MS, defaultJobName, durationFlag, jobInputProblem, jobNameProblem } from '../../lib/cron/job-input';
import { DEFAULT_TIME_ZONE } from '../../lib/cron/schedule';
import { resolveApp } from '../client';
import { appOption, optionOffering, printJson, withApi } from '../command-kit';
import { UserError } from '../errors';
import { formatDuration, renderTable } from '../output/table';
import { commandLine } from '../shell-quote';

interface AddOptions {
  app?: string;
  name?: string;
  tz?: string;
  concurrency?: string;
  timeout?: string;
  startingDeadline?: string;
  json?: boolean;
}

const iso = (ms: number) => (ms > 0 ? new Date(ms).toISOString() : null);

function runJson(r: ScheduledRun__Output) {
  return {
    instance: r.instance || null,
    host: r.host || null,
    tick: iso(r.tick_ms),
    manual: r.manual,
    state: r.state,
    startedAt: iso(r.started_at_ms),
    finishedAt: iso(r.finished_at_ms),
    durationMs: r.started_at_ms > 0 && r.finished_at_ms > 0 ? r.finished_at_ms - r.started_at_ms : null,
    exitStatus: r.finished_at_ms > 0 && r.state !== 'missed' && r.state !== 'not-started' && r.state !== 'lost' ? r.exit_status : null,
    signal: r.signal || null,
    reason: r.reason || null,
    release: r.release || null,
  };
}

function jobJson(s: ScheduleInfo__Output) {
  return {
    name: s.name,
    schedule: s.schedule,
    timeZone: s.time_zone,
    command: s.command,
    concurrency: s.concurrency,
    timeoutMs: s.timeout_ms || null,
    startingDeadlineMs: s.starting_deadline_ms,
    createdAt: iso(s.created_at_ms),
    nextRun: iso(s.next_run_ms),
    running: s.active.map(runJson),
    lastRun: s.history.find((r) => r.state !== 'missed') ? runJson(s.history.find((r) => r.state !== 'missed')!) : null,
    skipped: s.skipped,
    lastSkipped: iso(s.last_skipped_ms),
    missed: s.missed,
    history: s.history.map(runJson),
  };
}

/** `succeeded (exit 0)`, `failed (exit 3)`, `timed-out (SIGTERM)`, `missed`. */
function outcome(r: ScheduledRun__Output): string {
  if (r.state === 'running' || r.state === 'claimed') return r.state;
  if (r.state === 'succeeded' || r.state === 'failed') return `${r.state} (exit ${r.exit_status})`;
  if (r.state === 'timed-out' || r.state === 'stopped') return `${r.state} (${r.signal || `exit ${r.exit_status}`})`;
  return r.state;
}

function ago(ms: number, now: number): string {
  if (ms <= 0) return '-';
  return ms > now ? `in ${formatDuration(ms - now)}` : `${formatDuration(now - ms)} ago`;
}

function took(r: ScheduledRun__Output, now: number): string {
  if (r.started_at_ms <= 0) return '-';
  const end = r.finished_at_ms > 0 ? r.finished_at_ms : now;
  return formatInterval(Math.max(0, end - r.started_at_ms));
}

function lastRunCell(s: ScheduleInfo__Output, now: number): string {
  const running = s.active.find((r) => r.state === 'running');
  if (running) return `${running.instance} running for ${took(running, now)}`;
  const last = s.history.find((r) => r.state !== 'missed');
  if (!last) return '-';
  if (last.started_at_ms <= 0) return `${outcome(last)} ${ago(last.finished_at_ms || last.tick_ms, now)}`;
  return `${outcome(last)}, ${ago(last.started_at_ms, now)}, took ${took(last, now)}`;
}

function printJobs(app: string, schedules: ScheduleInfo__Output[]): void {
  if (schedules.length === 0) {
    console.log(`${app} has no scheduled jobs: \`cluster schedule:add '*/10 * * * *' -a ${app} -- COMMAND\`.`);
    return;
  }
  const now = Date.now();
  console.log(renderTable(
    ['name', 'schedule', 'time zone', 'next run', 'last run', 'skipped', 'command'],
    schedules.map((s) => [
      s.name,
      s.schedule,
      s.time_zone,
      s.next_run_ms > 0 ? ago(s.next_run_ms, now) : 'never',
      lastRunCell(s, now),
      String(s.skipped) + (s.missed > 0 ? ` (+${s.missed} missed)` : ''),
      s.command,
    ]),
  ));
}

function printJob(s: ScheduleInfo__Output): void {
  const now = Date.now();
  console.log(`${s.name}: ${s.schedule} (${s.time_zone}), concurrency ${s.concurrency}` +
    `${s.timeout_ms > 0 ? `, timeout ${formatInterval(s.timeout_ms)}` : ''}, starting deadline ${formatInterval(s.starting_deadline_ms)}`);
  console.log(`command: ${s.command}`);
  console.log(`next run: ${s.next_run_ms > 0 ? `${new Date(s.next_run_ms).toISOString()} (${ago(s.next_run_ms, now)})` : 'never'}`);
  console.log(`skipped: ${s.skipped}${s.last_skipped_ms > 0 ? ` (last ${ago(s.last_skipped_ms, now)})` : ''}; missed: ${s.missed}`);
  const runs = [...s.active, ...s.history];
  if (runs.length === 0) return void console.log('No runs yet.');
  console.log(renderTable(
    ['run', 'host', 'tick', 'started', 'took', 'result', 'reason'],
    runs.map((r) => [
      r.instance || '-',
      r.host || '-',
      r.manual ? 'schedule:run' : new Date(r.tick_ms).toISOString(),
      ago(r.started_at_ms, now),
      took(r, now),
      outcome(r),
      r.reason,
    ]),
  ));
}

function durationOption(flag: '--timeout' | '--starting-deadline', text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const read = durationFlag(flag, text);
  if ('problem' in read) throw new UserError(read.problem);
  return read.ms;
}

export function registerSchedule(program: Command): void {
  appOption(program.command('schedule [name]'))
    .description("scheduled jobs: schedule, time zone, next run, last run, runs skipped, command; with NAME, that job's last 20 runs")
    .option('--json', 'print JSON')
    .action(async (name: string | undefined, opts: { app?: string; json?: boolean }, cmd: Command) =>
      withApi(cmd, async (api) => {
        const app = resolveApp(opts.app);
        if (name !== undefined && jobNameProblem(name)) throw new UserError(jobNameProblem(name)!);
        const { schedules } = await callUnary(api, 'ListSchedules', { app });
        const shown = name === undefined ? schedules : schedules.filter((s) => s.name === name);
        if (name !== undefined && shown.length === 0) throw new UserError(`no job \`${name}\` in app \`${app}\` (see cluster schedule -a ${app})`);
        if (opts.json) return printJson(name === undefined ? { schedules: shown.map(jobJson) } : jobJson(shown[0]!));
        if (name === undefined) printJobs(app, shown);
        else printJob(shown[0]!);
      }),
    );

  appOption(program.command('schedule:add <schedule> <command...>'))
    .description(
      "run COMMAND on a schedule, each time as a one-off process (run.N) with the current release and config: SCHEDULE is a quoted 5-field cron expression ('*/10 * * * *'), " +
        "@hourly, @daily (@midnight), @weekly, @monthly, @yearly (@annually) or '@every DURATION' (at least 1s)",
    )
    .option('--name <name>', 'the job name (default: after the command)')
    .option('--tz <zone>', `IANA time zone the cron expression is read in (default ${DEFAULT_TIME_ZONE})`)
    .addOption(optionOffering('--concurrency <policy>', 'while the previous run still goes (default forbid: skip the tick)', CONCURRENCY_POLICIES))
    .option('--timeout <duration>', 'stop a run that takes longer (SIGTERM, SIGKILL 5 s later)')
    .option('--starting-deadline <duration>', 'a tick no leader could start in time runs late by at most this much, else it is recorded as missed (default 60s)')
    .option('--json', 'print JSON')
    .action(async (schedule: string, args: string[], opts: AddOptions, cmd: Command) =>
      withApi(cmd, async (api) => {
        const app = resolveApp(opts.app);
        if (schedule.trim() === '@every') throw new UserError("quote the schedule as one argument: '@every 30s'");
        if (args.length === 0) throw new UserError('no command: cluster schedule:add SCHEDULE -a APP -- COMMAND');
        const command = commandLine(args);
        const input = {
          name: opts.name ?? '',
          schedule,
          timeZone: opts.tz ?? DEFAULT_TIME_ZONE, // stored as the IANA database spells it (the control plane)
          command,
          concurrency: opts.concurrency ?? 'forbid',
          timeoutMs: durationOption('--timeout', opts.timeout) ?? 0,
          startingDeadlineMs: durationOption('--starting-deadline', opts.startingDeadline) ?? DEFAULT_STARTING_DEADLINE_MS,
        };
        // Checked here first (nothing is sent when it is wrong), and again by the control plane.
        const problem = jobInputProblem({ ...input, name: input.name || defaultJobName(command) });
        if (problem) throw new UserError(problem);
        const added = await callUnary(api, 'AddSchedule', {
          app,
          name: input.name,
          schedule: input.schedule,
          time_zone: input.timeZone,
          command: input.command,
          concurrency: input.concurrency,
          timeout_ms: input.timeoutMs,
          starting_deadline_ms: input.startingDeadlineMs,
        });
        if (opts.json) return printJson(jobJson(added));
        const next = added.next_run_ms > 0 ? `; next run ${new Date(added.next_run_ms).toISOString()}` : '';
        console.log(`Added job ${added.name} to ${app}: \`${added.command}\` ${added.schedule} (${added.time_zone})${next}.`);
      }),
    );

  appOption(program.command('schedule:remove <name>'))
    .description('remove a scheduled job and its history (a run still going finishes)')
    .action(async (name: string, opts: { app?: string }, cmd: Command) =>
      withApi(cmd, async (api) => {
        const app = resolveApp(opts.app);
        const problem = jobNameProblem(name);
        if (problem) throw new UserError(problem);
        await callUnary(api, 'RemoveSchedule', { app, name });
        console.log(`Removed job ${name} from ${app}.`);
      }),
    );

  appOption(program.command('schedule:run <name>'))
    .description('fire a scheduled job now, outside its schedule (whatever its concurrency policy)')
    .option('--json', 'print JSON')
    .action(async (name: string, opts: { app?: string; json?: boolean }, cmd: Command) =>
      withApi(cmd, async (api) => {
        const app = resolveApp(opts.app);
        const problem = jobNameProblem(name);
        if (problem) throw new UserError(problem);
        const reply = await callUnary(api, 'FireSchedule', { app, name }, 15_000);
        if (opts.json) return printJson({ started: reply.started, run: reply.run ? runJson(reply.run) : null });
        if (reply.run && reply.started) {
          console.log(`Started ${reply.run.instance} on ${reply.run.host}; see its output with \`cluster logs -a ${app} --ps ${reply.run.instance}\`.`);
        } else if (reply.run?.state === 'not-started') {
          throw new UserError(`job ${name} could not start: ${reply.run.reason}`);
        } else {
          console.log(`Asked to fire ${name}; it has not started yet (see \`cluster schedule ${name} -a ${app}\`).`);
        }
      }),
    );
}
