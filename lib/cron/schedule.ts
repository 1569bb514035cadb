/**
 * Schedules of scheduled jobs (docs/scheduled-jobs.md): a 5-field cron expression, a
 * nickname (`@hourly`, `@daily` …) or `@every DURATION`. Cron expressions are read by croner,
 * which keeps IANA time zones and DST right (a time skipped by a spring-forward change runs
 * just after it; a time repeated by a fall-back change runs once). The same code checks input
 * in the CLI and in the control plane, and computes ticks on the leader.
 */
import { Cron } from 'croner';
import { describeFieldProblem, splitFields, FIELD_NAMES } from './cron-fields';
import { formatDuration, parseDuration } from './duration';
import { neverFiresReason } from './never-fires';

/** `@every` runs at most once a second. */
export const MIN_EVERY_MS = 1_000;
/** … and at least once a year (a longer interval is a mistake, or a job for a cron expression). */
export const MAX_EVERY_MS = 366 * 86_400_000;
export const DEFAULT_TIME_ZONE = 'UTC';

const NICKNAMES = ['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly'];

export type Schedule =
  | { kind: 'cron'; text: string; timeZone: string; cron: Cron }
  | { kind: 'every'; text: string; intervalMs: number };

/** A schedule that cannot be read; the message names the problem (and its field and column). */
export class ScheduleError extends Error {
  override name = 'ScheduleError';
}

/** Why `zone` is not an IANA time zone (`Europe/Berlin`, `UTC`), or undefined when it is. */
export function timeZoneProblem(zone: string): string | undefined {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return undefined;
  } catch {
    return `unknown time zone \`${zone}\`: use an IANA name such as UTC, Europe/Berlin or America/New_York`;
  }
}

/**
 * The zone as the IANA database spells it (`europe/berlin` → `Europe/Berlin`): zone names are
 * matched without regard to case, and the stored one is shown by `cluster schedule`. A zone
 * that is not known is returned as given (timeZoneProblem names it).
 */
export function canonicalTimeZone(zone: string): string {
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: zone }).resolvedOptions().timeZone;
  } catch {
    return zone;
  }
}

/** Reads a schedule; throws ScheduleError with a message that says what is wrong and where. */
export function parseSchedule(text: string, timeZone = DEFAULT_TIME_ZONE): Schedule {
  const trimmed = text.trim();
  const zoneProblem = timeZoneProblem(timeZone);
  if (zoneProblem) throw new ScheduleError(zoneProblem);
  if (trimmed === '') throw new ScheduleError('empty schedule: give a cron expression (`*/10 * * * *`), `@hourly`, `@daily`, `@weekly` or `@every 30s`');
  if (trimmed.startsWith('@every')) return { kind: 'every', text: trimmed, intervalMs: everyInterval(trimmed) };
  if (trimmed.startsWith('@')) {
    if (!NICKNAMES.includes(trimmed.toLowerCase())) {
      throw new ScheduleError(`unknown schedule \`${trimmed}\`: use ${NICKNAMES.join(', ')} or \`@every DURATION\``);
    }
    return { kind: 'cron', text: trimmed.toLowerCase(), timeZone, cron: cronOf(trimmed.toLowerCase(), timeZone) };
  }
  const fields = splitFields(trimmed);
  const nickname = missingAt(trimmed);
  if (nickname) throw new ScheduleError(`unknown schedule \`${trimmed}\`: did you mean \`${nickname}\`?`);
  if (fields.length !== 5) {
    throw new ScheduleError(
      `a cron expression has 5 fields (${FIELD_NAMES.join(', ')}), \`${trimmed}\` has ${fields.length}` +
        (fields.length < 5 ? ': quote it as one argument, e.g. \'*/10 * * * *\'' : ''),
    );
  }
  const problem = describeFieldProblem(trimmed);
  if (problem) throw new ScheduleError(`invalid cron expression \`${trimmed}\`: ${problem}`);
  return { kind: 'cron', text: fields.map((f) => f.text).join(' '), timeZone, cron: cronOf(trimmed, timeZone) };
}

/** `@daily` for `daily`, `@every 30s` for `every 30s`: a nickname typed without its `@`. */
function missingAt(text: string): string | undefined {
  const word = text.split(/\s+/)[0]!.toLowerCase();
  if (word === 'every') return `@${text}`;
  return NICKNAMES.includes(`@${word}`) && !/\s/.test(text) ? `@${word}` : undefined;
}

/**
 * Why `text` cannot be a job's schedule, or undefined when it can: it does not read, or it reads
 * but never fires (`0 3 30 2 *`). The second is refused only here, where jobs are added:
 * parseSchedule still reads such a job stored before, which then never runs.
 */
export function scheduleProblem(text: string, timeZone = DEFAULT_TIME_ZONE): string | undefined {
  let schedule: Schedule;
  try {
    schedule = parseSchedule(text, timeZone);
  } catch (err) {
    return (err as Error).message;
  }
  const never = schedule.kind === 'cron' ? neverFiresReason(schedule.text.split(' ')) : undefined;
  return never && `cron expression \`${schedule.text}\` never fires: ${never}`;
}

function everyInterval(text: string): number {
  const rest = text.slice('@every'.length).trim();
  if (rest === '') throw new ScheduleError('`@every` needs a duration, e.g. `@every 30s` or `@every 1h30m`');
  const ms = parseDuration(rest);
  if (ms === undefined) throw new ScheduleError(`invalid duration \`${rest}\` in \`${text}\`: use e.g. 30s, 5m, 1h30m`);
  if (ms < MIN_EVERY_MS) throw new ScheduleError(`\`${text}\`: the interval must be at least 1s`);
  if (ms > MAX_EVERY_MS) throw new ScheduleError(`\`${text}\`: the interval must be at most 366 days; use a cron expression`);
  return ms;
}

function cronOf(expression: string, timeZone: string): Cron {
  try {
    // Never started: we only ask it for next times (paused, no callback).
    return new Cron(expression, { timezone: timeZone, mode: '5-part', paused: true });
  } catch (err) {
    // Our own check found nothing; croner did. Its message, with the expression.
    throw new ScheduleError(`invalid cron expression \`${expression}\`: ${(err as Error).message.replace(/^CronPattern: /, '')}`);
  }
}

/**
 * The first tick strictly after `afterMs`. `@every` ticks are `anchorMs + k × interval`
 * (k ≥ 1; the anchor is when the job was added), so every replica computes the same ticks.
 * Undefined when a cron expression never fires again (30 February: refused when added, see
 * scheduleProblem).
 */
export function nextTick(schedule: Schedule, afterMs: number, anchorMs: number): number | undefined {
  if (schedule.kind === 'every') {
    const k = Math.max(1, Math.floor((afterMs - anchorMs) / schedule.intervalMs) + 1);
    return anchorMs + k * schedule.intervalMs;
  }
  // croner works in whole seconds: ask from the start of the next second.
  const from = new Date(Math.floor(afterMs / 1_000) * 1_000);
  let next = schedule.cron.nextRun(from)?.getTime();
  while (next !== undefined && next <= afterMs) next = schedule.cron.nextRun(new Date(next))?.getTime();
  return next;
}

/** `@every 30s` as `every 30 s`; cron expressions as typed. */
export function describeSchedule(schedule: Schedule): string {
  return schedule.kind === 'every' ? `every ${formatDuration(schedule.intervalMs)}` : schedule.text;
}
