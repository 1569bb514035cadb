/**
 * Scheduled jobs as users change them (`schedule:add`, `schedule:remove`, `schedule:run`):
 * checked here, the authority, then written in revision-checked transactions. The leader's
 * cron loop does the rest (cron-loop.ts). docs/scheduled-jobs.md.
 */
import type { Etcd3 } from 'etcd3';
import { commitIf, exists, readPrefix, unchangedSince } from '../etcd/batch';
import { AlreadyExistsError, ConflictError, InvalidArgumentError, LimitExceededError, NotFoundError } from '../errors';
import { conflictPauseMs, pause } from '../../lib/retry-delay';
import type { Keys } from '../keys';
import { decode, encode } from '../records';
import type { AppStore } from '../state/app-store';
import {
  DEFAULT_STARTING_DEADLINE_MS,
  defaultJobName,
  jobInputProblem,
  jobNameProblem,
  MAX_JOBS_PER_APP,
  type ConcurrencyPolicy,
  type JobInput,
} from '../../lib/cron/job-input';
import { DEFAULT_TIME_ZONE, parseSchedule } from '../../lib/cron/schedule';
import { emptyState, type JobRecord, type JobStateRecord } from './records';
import { RETRIES, tagOf } from '../state/app-reads';

export interface JobWithState {
  job: JobRecord;
  state: JobStateRecord;
}

/** What `schedule:add` sends: a job input whose empty strings and zeros mean "the default". */
export type AddJobRequest = JobInput;

export class JobStore {
  constructor(private readonly client: Etcd3, private readonly keys: Keys, private readonly apps: AppStore) {}

  async add(app: string, req: AddJobRequest): Promise<JobWithState> {
    const explicitName = req.name.trim();
    const input: JobInput = {
      name: explicitName || defaultJobName(req.command),
      schedule: req.schedule.trim(),
      timeZone: req.timeZone.trim() || DEFAULT_TIME_ZONE,
      command: req.command,
      concurrency: req.concurrency || 'forbid',
      // 0: none / the default. NaN stays NaN, so that it is refused rather than read as 0.
      timeoutMs: Math.round(req.timeoutMs),
      startingDeadlineMs: Math.round(req.startingDeadlineMs === 0 ? DEFAULT_STARTING_DEADLINE_MS : req.startingDeadlineMs),
    };
    const problem = jobInputProblem(input);
    if (problem) throw new InvalidArgumentError(problem);
    const schedule = parseSchedule(input.schedule, input.timeZone);

    for (let attempt = 0; attempt < RETRIES; attempt++) {
      await this.apps.getApp(app); // a clear NOT_FOUND for an app that does not exist
      const appKey = this.keys.app(app);
      const appRevision = await this.modRevision(appKey);
      const taken = new Set((await this.list(app)).map((j) => j.job.name));
      if (taken.size >= MAX_JOBS_PER_APP) {
        throw new LimitExceededError(`app \`${app}\` has ${taken.size} scheduled jobs; at most ${MAX_JOBS_PER_APP} are allowed`);
      }
      let name = input.name;
      if (taken.has(name)) {
        if (explicitName) throw new AlreadyExistsError(`job \`${name}\` already exists in app \`${app}\`: remove it first (cluster schedule:remove ${name} -a ${app}) or pick another --name`);
        // Named after its command: the first free `name-2`, `name-3` …
        for (let n = 2; taken.has(name); n++) name = `${input.name.slice(0, 30 - String(n).length - 1)}-${n}`;
      }
      const job: JobRecord = {
        name,
        app,
        schedule: schedule.text,
        timeZone: input.timeZone,
        command: input.command,
        concurrency: input.concurrency as ConcurrencyPolicy,
        timeoutMs: input.timeoutMs,
        startingDeadlineMs: input.startingDeadlineMs,
        createdAtMs: Date.now(),
        fireRequests: 0,
      };
      const state = emptyState(job);
      const ok = await commitIf(
        this.client,
        [unchangedSince(appKey, appRevision), unchangedSince(this.keys.schedule(app, name), '0')],
        [
          { put: this.keys.schedule(app, name), value: encode(job) },
          { put: this.keys.cronState(app, name), value: encode(state) },
        ],
      );
      if (ok) return { job, state };
      await pause(conflictPauseMs(attempt));
    }
    throw new ConflictError(`too many concurrent changes to the jobs of \`${app}\`; try again`);
  }

  /** Removes a job and its history; a run still going finishes on its own. */
  async remove(app: string, name: string): Promise<void> {
    await this.get(app, name);
    const ok = await commitIf(this.client, [exists(this.keys.schedule(app, name))], [
      { delete: this.keys.schedule(app, name) },
      { delete: this.keys.cronState(app, name) },
    ]);
    if (!ok) throw this.notFound(app, name);
  }

  /** Every job of an app with its state, by name. */
  async list(app: string): Promise<JobWithState[]> {
    await this.apps.getApp(app);
    const [jobs, states] = await Promise.all([this.range(this.keys.schedules(app)), this.range(this.keys.cronStates(app))]);
    const out: JobWithState[] = [];
    for (const [key, raw] of jobs) {
      const job = decode<JobRecord>(raw);
      if (!job) continue;
      const state = decode<JobStateRecord>(states.get(this.keys.cronState(app, job.name))) ?? emptyState(job);
      if (key === this.keys.schedule(app, job.name)) out.push({ job, state });
    }
    return out.sort((a, b) => a.job.name.localeCompare(b.job.name));
  }

  async get(app: string, name: string): Promise<JobWithState> {
    const problem = jobNameProblem(name);
    if (problem) throw new InvalidArgumentError(problem);
    await this.apps.getApp(app);
    const [job, state] = await Promise.all([
      this.client.get(this.keys.schedule(app, name)).buffer(),
      this.client.get(this.keys.cronState(app, name)).buffer(),
    ]);
    const decoded = decode<JobRecord>(job);
    if (!decoded) throw this.notFound(app, name);
    return { job: decoded, state: decode<JobStateRecord>(state) ?? emptyState(decoded) };
  }

  /**
   * Asks the cron loop to fire job `name` now: its fire-request counter goes up by one, and the
   * run the loop starts for it carries the new number. With a request id the increment is
   * recorded (state/request-records.ts): a retried `schedule:run` answers the same number and
   * fires once.
   */
  async requestFire(app: string, name: string, requestId?: string): Promise<number> {
    const request = tagOf(requestId, `schedule:run ${app} ${name}`);
    for (let attempt = 0; attempt < RETRIES; attempt++) {
      const replayed = request && (await this.apps.requests.recorded<number>(request));
      if (replayed) return replayed.result;
      await this.get(app, name);
      const key = this.keys.schedule(app, name);
      const res = await this.client.kv.range({ key: Buffer.from(key) });
      const kv = res.kvs[0];
      const job = kv && decode<JobRecord>(kv.value);
      if (!kv || !job) throw this.notFound(app, name);
      const next = { ...job, fireRequests: job.fireRequests + 1 };
      if (await this.apps.requests.commit([unchangedSince(key, kv.mod_revision)], [{ put: key, value: encode(next) }], request, next.fireRequests)) {
        return next.fireRequests;
      }
      await pause(conflictPauseMs(attempt));
    }
    throw new ConflictError(`too many concurrent changes to job \`${name}\`; try again`);
  }

  private notFound(app: string, name: string): NotFoundError {
    return new NotFoundError(`no job \`${name}\` in app \`${app}\` (see cluster schedule -a ${app})`);
  }

  private async modRevision(key: string): Promise<string> {
    const res = await this.client.kv.range({ key: Buffer.from(key) });
    return res.kvs[0]?.mod_revision ?? '0';
  }

  private async range(prefix: string): Promise<Map<string, Buffer>> {
    return new Map([...(await readPrefix(this.client, prefix))].map(([key, kv]) => [key, kv.value]));
  }
}
