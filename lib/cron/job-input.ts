/**
 * What a user gives `schedule:add`, checked the same way in the CLI (early) and in the control
 * plane (the authority; docs/limits.md).
 */
import { MAX_COMMAND_BYTES, sizeAndLimit } from '../limits';
import { nulByte } from '../nul-byte';
import { formatDuration, parseDuration } from './duration';
import { scheduleProblem, timeZoneProblem } from './schedule';

export const CONCURRENCY_POLICIES = ['forbid', 'allow', 'replace'] as const;
export type ConcurrencyPolicy = (typeof CONCURRENCY_POLICIES)[number];

/** A tick later than this when a leader can start it is recorded as missed (`--starting-deadline`). */
export const DEFAULT_STARTING_DEADLINE_MS = 60_000;
export const MIN_TIMEOUT_MS = 1_000;
export const MAX_TIMEOUT_MS = 7 * 86_400_000;
export const MIN_STARTING_DEADLINE_MS = 1_000;
export const MAX_STARTING_DEADLINE_MS = 86_400_000;
/** Scheduled jobs one app may have. */
export const MAX_JOBS_PER_APP = 100;
/** Finished runs kept in a job's history. */
export const HISTORY_LENGTH = 20;

export interface JobInput {
  name: string;
  schedule: string;
  timeZone: string;
  command: string;
  concurrency: string;
  /** 0: no timeout. */
  timeoutMs: number;
  startingDeadlineMs: number;
}

const JOB_NAME = /^[a-z0-9](?:[a-z0-9-]{0,28}[a-z0-9])?$/;

/** Why `name` cannot name a job, or undefined when it can. */
export function jobNameProblem(name: string): string | undefined {
  if (JOB_NAME.test(name)) return undefined;
  return `invalid job name \`${name}\`: use 1–30 lowercase letters, digits and dashes, starting and ending with a letter or digit`;
}

/**
 * A name from the command when none is given: `bin/backup.sh --full` → `backup-sh`; accented
 * letters lose their accents (`bin/Übersicht` → `ubersicht`), other letters go.
 */
export function defaultJobName(command: string): string {
  const first = command.trim().split(/\s+/)[0] ?? '';
  const base = first.slice(first.lastIndexOf('/') + 1).normalize('NFKD').replace(/\p{M}+/gu, '').toLowerCase();
  const name = base.replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 30).replace(/-+$/, '');
  return name || 'job';
}

/** The bounds of schedule:add's duration options, as users write them. */
const DURATION_FLAGS = {
  '--timeout': { min: MIN_TIMEOUT_MS, max: MAX_TIMEOUT_MS, range: 'from 1s to 7d', none: ' (leave --timeout out for no timeout)' },
  '--starting-deadline': { min: MIN_STARTING_DEADLINE_MS, max: MAX_STARTING_DEADLINE_MS, range: 'from 1s to 1d', none: '' },
} as const;

/** Whether `ms` is within the bounds (false for NaN). */
function within(ms: number, bounds: { min: number; max: number }): boolean {
  return ms >= bounds.min && ms <= bounds.max;
}

/** Why the job cannot be added, or undefined when it can; the first problem only. */
export function jobInputProblem(input: JobInput): string | undefined {
  const nameProblem = jobNameProblem(input.name);
  if (nameProblem) return nameProblem;
  const zoneProblem = timeZoneProblem(input.timeZone);
  if (zoneProblem) return zoneProblem;
  const problem = scheduleProblem(input.schedule, input.timeZone);
  if (problem) return problem;
  if (!input.command.trim()) return 'no command: cluster schedule:add SCHEDULE -a APP -- COMMAND';
  const nul = nulByte(input.command);
  if (nul) return `the command has ${nul}`;
  const size = Buffer.byteLength(input.command);
  if (size > MAX_COMMAND_BYTES) {
    const [shown, limit] = sizeAndLimit(size, MAX_COMMAND_BYTES);
    return `the command is ${shown}; at most ${limit} is allowed: put a long command in a script and run that`;
  }
  if (!(CONCURRENCY_POLICIES as readonly string[]).includes(input.concurrency)) {
    return `invalid concurrency policy \`${input.concurrency}\`: use ${CONCURRENCY_POLICIES.join(', ')}`;
  }
  if (input.timeoutMs !== 0 && !within(input.timeoutMs, DURATION_FLAGS['--timeout'])) {
    return `invalid timeout ${formatDuration(input.timeoutMs)}: give ${DURATION_FLAGS['--timeout'].range} (or none)`;
  }
  if (!within(input.startingDeadlineMs, DURATION_FLAGS['--starting-deadline'])) {
    return `invalid starting deadline ${formatDuration(input.startingDeadlineMs)}: give ${DURATION_FLAGS['--starting-deadline'].range}`;
  }
  return undefined;
}

/**
 * `--timeout` or `--starting-deadline` in milliseconds, or why not, naming the option and the text
 * as typed (`--timeout 0s` is refused: no timeout is no --timeout, not 0).
 */
export function durationFlag(flag: keyof typeof DURATION_FLAGS, text: string): { ms: number } | { problem: string } {
  const ms = parseDuration(text);
  if (ms === undefined) return { problem: `invalid ${flag} \`${text}\`: give a duration such as 30s, 5m or 1h30m` };
  const bounds = DURATION_FLAGS[flag];
  if (!within(ms, bounds)) return { problem: `${flag} \`${text}\` is out of range: give ${bounds.range}${bounds.none}` };
  return { ms };
}
