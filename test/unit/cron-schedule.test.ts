import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalTimeZone, nextTick, parseSchedule, scheduleProblem, timeZoneProblem } from '../../lib/cron/schedule';
import { parseDuration } from '../../lib/cron/duration';
import { decideTick, MAX_COUNTED_MISSES } from '../../control-plane/cron/tick-plan';
import { defaultJobName, durationFlag, jobInputProblem, type JobInput } from '../../lib/cron/job-input';

const at = (iso: string) => Date.parse(iso);
const iso = (ms: number | undefined) => (ms === undefined ? 'never' : new Date(ms).toISOString());

/** The next `n` ticks after `fromIso`. */
function ticks(spec: string, zone: string, fromIso: string, n: number, anchorIso = fromIso): string[] {
  const schedule = parseSchedule(spec, zone);
  const out: string[] = [];
  let t: number | undefined = at(fromIso);
  for (let i = 0; i < n && t !== undefined; i++) {
    t = nextTick(schedule, t, at(anchorIso));
    out.push(iso(t));
  }
  return out;
}

describe('next tick', () => {
  it('follows a cron expression in UTC, strictly after the given time', () => {
    assert.deepEqual(ticks('*/10 * * * *', 'UTC', '2026-01-01T12:00:00.000Z', 3), [
      '2026-01-01T12:10:00.000Z', '2026-01-01T12:20:00.000Z', '2026-01-01T12:30:00.000Z',
    ]);
    assert.deepEqual(ticks('*/10 * * * *', 'UTC', '2026-01-01T12:09:59.999Z', 1), ['2026-01-01T12:10:00.000Z']);
  });

  it('reads the expression in the job time zone', () => {
    // 09:00 in New York is 14:00 UTC in winter and 13:00 UTC in summer.
    assert.deepEqual(ticks('0 9 * * *', 'America/New_York', '2026-01-10T00:00:00Z', 1), ['2026-01-10T14:00:00.000Z']);
    assert.deepEqual(ticks('0 9 * * *', 'America/New_York', '2026-07-10T00:00:00Z', 1), ['2026-07-10T13:00:00.000Z']);
  });

  it('runs a time skipped by a spring-forward change once, right after the change', () => {
    // Berlin, 29 March 2026: 02:00 CET becomes 03:00 CEST; 02:30 does not exist that day.
    assert.deepEqual(ticks('30 2 * * *', 'Europe/Berlin', '2026-03-28T00:00:00Z', 3), [
      '2026-03-28T01:30:00.000Z', // 02:30 CET
      '2026-03-29T01:00:00.000Z', // 03:00 CEST, the first moment after the gap
      '2026-03-30T00:30:00.000Z', // 02:30 CEST
    ]);
  });

  it('runs a time repeated by a fall-back change once', () => {
    // New York, 1 November 2026: 01:00–02:00 happens twice (EDT, then EST).
    assert.deepEqual(ticks('30 1 * * *', 'America/New_York', '2026-10-31T12:00:00Z', 2), [
      '2026-11-01T05:30:00.000Z', // 01:30 EDT; not again at 06:30Z (01:30 EST)
      '2026-11-02T06:30:00.000Z',
    ]);
  });

  it('keeps an hourly job one real hour apart across a fall-back change', () => {
    const out = ticks('0 * * * *', 'Europe/Berlin', '2026-10-24T22:30:00Z', 6).map(at);
    for (let i = 1; i < out.length; i++) assert.equal(out[i]! - out[i - 1]!, 3_600_000);
  });

  it('ticks @every from the anchor (when the job was added), whatever the time asked from', () => {
    const anchor = '2026-01-01T00:00:07.250Z';
    assert.deepEqual(ticks('@every 30s', 'UTC', anchor, 2), ['2026-01-01T00:00:37.250Z', '2026-01-01T00:01:07.250Z']);
    assert.deepEqual(ticks('@every 30s', 'UTC', '2026-01-01T00:05:00Z', 1, anchor), ['2026-01-01T00:05:07.250Z']);
    assert.deepEqual(ticks('@every 1m30s', 'UTC', '2026-01-01T00:00:00Z', 2), ['2026-01-01T00:01:30.000Z', '2026-01-01T00:03:00.000Z']);
  });

  it('knows the nicknames', () => {
    assert.deepEqual(ticks('@hourly', 'UTC', '2026-01-01T10:20:00Z', 1), ['2026-01-01T11:00:00.000Z']);
    assert.deepEqual(ticks('@daily', 'Europe/Berlin', '2026-01-01T10:20:00Z', 1), ['2026-01-01T23:00:00.000Z']);
    assert.deepEqual(ticks('@weekly', 'UTC', '2026-01-01T10:20:00Z', 1), ['2026-01-04T00:00:00.000Z']); // a Sunday
  });

  it('fires on either day field when both are restricted, as cron does', () => {
    const days = ticks('0 0 13 * 1', 'UTC', '2026-02-01T00:00:00Z', 4).map((t) => t.slice(0, 10));
    assert.deepEqual(days, ['2026-02-02', '2026-02-09', '2026-02-13', '2026-02-16']);
  });
});

describe('schedule errors', () => {
  const cases: Array<[string, RegExp]> = [
    ['0 25 * * *', /hour field \(field 2, column 3, `25`\): 25 is out of range 0–23/],
    ['0 0 32 * *', /day of month field \(field 3, column 5, `32`\): 32 is out of range 1–31/],
    ['0 0 * 13 *', /month field .*13 is out of range 1–12/],
    ['0 0 * * 8', /day of week field .*8 is out of range 0–7/],
    ['*/0 * * * *', /minute field \(field 1, column 1, `\*\/0`\): the step `0` must be a whole number from 1/],
    // croner refuses a step larger than the field's number of values, with no position.
    ['*/61 * * * *', /minute field \(field 1, column 1, `\*\/61`\): the step `61` must be at most 60/],
    ['0 1-5/25 * * *', /hour field \(field 2, column 3, `1-5\/25`\): the step `25` must be at most 24/],
    ['0 0 */32 * *', /day of month field .*the step `32` must be at most 31/],
    ['0 0 1 */13 *', /month field .*the step `13` must be at most 12/],
    ['0 0 * * */8', /day of week field .*the step `8` must be at most 7/],
    ['every 30s', /unknown schedule `every 30s`: did you mean `@every 30s`\?/],
    ['daily', /unknown schedule `daily`: did you mean `@daily`\?/],
    ['0 0 * * MON-FRX', /day of week field .*`FRX` is not a number \(or a name such as SUN\)/],
    ['1,,2 * * * *', /minute field .*empty list item/],
    ['*/10 * * * * *', /a cron expression has 5 fields .* has 6/],
    ['*/10', /has 1: quote it as one argument/],
    ['@every 0s', /the interval must be at least 1s/],
    ['@every 500ms', /the interval must be at least 1s/],
    ['@every', /`@every` needs a duration/],
    ['@every soon', /invalid duration `soon`/],
    ['@fortnightly', /unknown schedule `@fortnightly`/],
    ['', /empty schedule/],
  ];
  for (const [spec, message] of cases) {
    it(`refuses \`${spec}\``, () => assert.match(scheduleProblem(spec) ?? 'accepted', message));
  }

  const neverFires: Array<[string, string]> = [
    ['0 3 30 2 *', 'cron expression `0 3 30 2 *` never fires: February has no 30th'],
    ['0 0 31 4 *', 'cron expression `0 0 31 4 *` never fires: April has no 31st'],
    ['0 0 30,31 FEB ?', 'cron expression `0 0 30,31 FEB ?` never fires: February has no 30th or 31st'],
    ['0 0 31 4,6,9,11 *', 'cron expression `0 0 31 4,6,9,11 *` never fires: April, June, September and November have no 31st'],
    ['0 0 31 2-4/2 *', 'cron expression `0 0 31 2-4/2 *` never fires: February and April have no 31st'],
  ];
  for (const [spec, message] of neverFires) {
    it(`refuses \`${spec}\`, which never fires`, () => assert.equal(scheduleProblem(spec), message));
  }

  it('accepts a day that only some of its months have, or a weekday with it (either field fires)', () => {
    for (const spec of ['0 0 29 2 *', '0 0 31 * *', '0 0 31 2,3 *', '0 0 30 2 MON', '0 0 */10 2 *', '0 0 30-31 1-2 *']) {
      assert.equal(scheduleProblem(spec), undefined, spec);
      assert.notEqual(nextTick(parseSchedule(spec), at('2026-12-04T00:00:00Z'), 0), undefined, `${spec} has a next run`);
    }
  });

  it('still reads a never-firing expression stored before it was refused: it has no next run', () => {
    assert.equal(nextTick(parseSchedule('0 3 30 2 *'), at('2026-12-04T00:00:00Z'), 0), undefined);
  });

  it('accepts what cron users write', () => {
    for (const spec of ['*/60 * * * *', '0 */24 * * *', '0 0 */31 * *', '0 0 1 */12 *', '0 0 * * */7', '*/10 * * * *', '0 9 * * MON-FRI', '15 3 1,15 * *', '0 0 * JAN,JUL SUN', '@hourly', '@daily', '@weekly', '@every 30s', '@every 1h30m', '0 0 * * 7']) {
      assert.equal(scheduleProblem(spec), undefined, spec);
    }
  });

  it('refuses an unknown time zone', () => {
    assert.match(timeZoneProblem('Mars/Olympus') ?? '', /unknown time zone `Mars\/Olympus`/);
    assert.match(scheduleProblem('@hourly', 'Europe/Nowhere') ?? '', /unknown time zone/);
    assert.equal(timeZoneProblem('Europe/Berlin'), undefined);
  });

  it('reads durations', () => {
    assert.equal(parseDuration('30s'), 30_000);
    assert.equal(parseDuration('1h30m'), 5_400_000);
    assert.equal(parseDuration('250ms'), 250);
    assert.equal(parseDuration('1.5s'), 1_500);
    assert.equal(parseDuration('30'), undefined);
    assert.equal(parseDuration('s'), undefined);
  });
});

describe('due ticks after a pause', () => {
  const every = parseSchedule('@every 1s');
  const anchor = at('2026-01-01T00:00:00Z');

  it('waits when the next tick is ahead', () => {
    assert.deepEqual(decideTick(every, anchor, anchor + 5_000, anchor + 5_500, 60_000), { kind: 'wait', nextTickMs: anchor + 6_000 });
  });

  it('runs each tick missed by less than the starting deadline, oldest first', () => {
    assert.deepEqual(decideTick(every, anchor, anchor + 5_000, anchor + 9_200, 60_000), { kind: 'due', tickMs: anchor + 6_000 });
  });

  it('records ticks later than the deadline as missed, then runs the rest', () => {
    const first = decideTick(every, anchor, anchor, anchor + 10_000, 4_000);
    assert.deepEqual(first, { kind: 'missed', count: 5, lastMissedMs: anchor + 5_000, countCapped: false });
    assert.deepEqual(decideTick(every, anchor, anchor + 5_000, anchor + 10_000, 4_000), { kind: 'due', tickMs: anchor + 6_000 });
  });

  it('sums up a long outage without counting every tick', () => {
    const decision = decideTick(every, anchor, anchor, anchor + 86_400_000, 60_000);
    assert.equal(decision.kind, 'missed');
    assert.equal(decision.kind === 'missed' && decision.countCapped, true);
    assert.equal(decision.kind === 'missed' && decision.count, MAX_COUNTED_MISSES);
    assert.equal(decision.kind === 'missed' && decision.lastMissedMs, anchor + 86_400_000 - 60_000 - 1);
  });
});

describe('job input', () => {
  const good: JobInput = { name: 'backup', schedule: '@daily', timeZone: 'UTC', command: 'bin/backup', concurrency: 'forbid', timeoutMs: 0, startingDeadlineMs: 60_000 };

  it('accepts a good job and names the first problem of a bad one', () => {
    assert.equal(jobInputProblem(good), undefined);
    assert.match(jobInputProblem({ ...good, name: 'Backup!' }) ?? '', /invalid job name/);
    assert.match(jobInputProblem({ ...good, concurrency: 'sometimes' }) ?? '', /invalid concurrency policy `sometimes`: use forbid, allow, replace/);
    assert.match(jobInputProblem({ ...good, timeoutMs: 10 }) ?? '', /invalid timeout/);
    assert.match(jobInputProblem({ ...good, command: '  ' }) ?? '', /no command/);
    assert.match(jobInputProblem({ ...good, timeZone: 'Nowhere/Land' }) ?? '', /unknown time zone/);
  });

  it('names a job after its command when no name is given', () => {
    assert.equal(defaultJobName('bin/backup.sh --full'), 'backup-sh');
    assert.equal(defaultJobName('python3 -m app.report'), 'python3');
    assert.equal(defaultJobName('!!!'), 'job');
    assert.equal(defaultJobName('bin/Übersicht --täglich'), 'ubersicht', 'accents dropped, not the letters');
    assert.equal(defaultJobName('./rapport-générale.sh'), 'rapport-generale-sh');
    assert.equal(defaultJobName('日本語'), 'job');
  });

  it('reads --timeout and --starting-deadline as typed, and names the option and the text when out of range', () => {
    assert.deepEqual(durationFlag('--timeout', '30m'), { ms: 1_800_000 });
    assert.deepEqual(durationFlag('--starting-deadline', '1d'), { ms: 86_400_000 });
    // 0s is not "no timeout" in disguise: it used to be taken silently as none.
    assert.deepEqual(durationFlag('--timeout', '0s'), { problem: '--timeout `0s` is out of range: give from 1s to 7d (leave --timeout out for no timeout)' });
    assert.deepEqual(durationFlag('--timeout', '500ms'), { problem: '--timeout `500ms` is out of range: give from 1s to 7d (leave --timeout out for no timeout)' });
    // It said `invalid starting deadline 0 ms`, a value the user had not typed.
    assert.deepEqual(durationFlag('--starting-deadline', '0s'), { problem: '--starting-deadline `0s` is out of range: give from 1s to 1d' });
    assert.deepEqual(durationFlag('--starting-deadline', '2d'), { problem: '--starting-deadline `2d` is out of range: give from 1s to 1d' });
    assert.deepEqual(durationFlag('--timeout', '5'), { problem: 'invalid --timeout `5`: give a duration such as 30s, 5m or 1h30m' });
  });

  it('stores a time zone as the IANA database spells it, whatever case it was typed in', () => {
    assert.equal(canonicalTimeZone('europe/berlin'), 'Europe/Berlin');
    assert.equal(canonicalTimeZone('AMERICA/NEW_YORK'), 'America/New_York');
    assert.equal(canonicalTimeZone('UTC'), 'UTC');
    assert.equal(canonicalTimeZone('Nowhere/Land'), 'Nowhere/Land', 'left for timeZoneProblem to name');
  });
});
