/**
 * The leader's scheduled-jobs loop (docs/scheduled-jobs.md). Each pass reads the jobs and
 * their states from etcd and, job by job:
 *  1. records what became of runs in flight (started, exited, lost);
 *  2. starts runs a previous leader claimed but may not have started, and follows the
 *     running ones it does not follow yet (after a failover);
 *  3. claims a `schedule:run` request, or the oldest due tick, and starts its run.
 * Runs are started and followed by run-follower.ts.
 * A tick is claimed by one transaction, fenced by leadership and checked against the revision
 * of the job's state (which holds the last claimed tick) before any run starts: whatever
 * leaders come and go, a tick is claimed once, so it runs at most once.
 */
import type { Etcd3 } from 'etcd3';
import { noReleaseYet } from '../../lib/no-release-yet';
import type { Logger } from '../../lib/log';
import type { AgentDialer } from '../agents/agent-dialer';
import { commitIfAt, readPrefix, unchangedSince, type WriteOp } from '../etcd/batch';
import type { ICompare } from 'etcd3/lib/rpc';
import type { Keys } from '../keys';
import type { LeaderElection } from '../leader/election';
import { decode, encode, type AgentRecord } from '../records';
import { deployedOf, type AppStore } from '../state/app-store';
import type { ClusterView } from '../state/cluster-view';
import { pickAgent } from '../run/one-off';
import { readRunCounter } from '../state/run-counter';
import { parseSchedule, type Schedule } from '../../lib/cron/schedule';
import { HISTORY_LENGTH } from '../../lib/cron/job-input';
import { formatDuration } from '../../lib/cron/duration';
import { decideConcurrency } from './concurrency';
import { decideTick } from './tick-plan';
import { emptyState, type JobRecord, type JobStateRecord, type RunRecord } from './records';
import { RunFollower } from './run-follower';
import { PassLoop } from '../leader/pass-loop';
import { logPassFailed } from '../etcd/outage';
import { runKey, withOutcomes } from './run-outcomes';

/** The longest pause between passes (a `schedule:run`, a new job, a clock that jumped). */
const MAX_PASS_INTERVAL_MS = 500;
/** After a failed pass (etcd unwell), wait this long. */
const RETRY_AFTER_FAILURE_MS = 1_000;

export interface CronLoopDeps {
  client: Etcd3;
  keys: Keys;
  view: ClusterView;
  store: AppStore;
  election: LeaderElection;
  dialer: AgentDialer;
  logger: Logger;
  /** How long a run's agent may stay unregistered before the run counts as lost (two lease TTLs). */
  agentDownGraceMs: number;
}

interface Versioned<T> {
  value: T;
  modRevision: string;
}

export class CronLoop {
  private readonly runs: RunFollower;
  private readonly schedules = new Map<string, { text: string; zone: string; schedule: Schedule }>();
  /** Runs claimed during the pass in progress (not in the states it read). */
  private readonly claimedThisPass = new Set<string>();

  private readonly loop: PassLoop;

  constructor(private readonly deps: CronLoopDeps) {
    this.runs = new RunFollower(deps, () => this.poke(0), () => this.active);
    this.loop = new PassLoop(() => this.pass(), {
      everyMs: MAX_PASS_INTERVAL_MS,
      retryMs: RETRY_AFTER_FAILURE_MS,
      onError: (err) => logPassFailed(deps.logger, err, 'scheduled jobs pass'),
    });
  }

  start(): void {
    this.loop.start();
  }

  /** Stops claiming (deposed or closing). Runs go on; the next leader follows them. */
  async stop(): Promise<void> {
    if (!(await this.loop.stop())) return;
    this.runs.clear();
  }

  /** Asks for a pass within `delayMs`; passes never overlap. */
  poke(delayMs = 0): void {
    this.loop.poke(delayMs);
  }

  private get active(): boolean {
    return this.loop.isActive;
  }

  /** One pass over every job; returns how long to wait before the next. */
  private async pass(): Promise<number> {
    const { keys } = this.deps;
    const [jobs, states] = await Promise.all([
      this.readPrefix<JobRecord>(keys.allSchedules()),
      this.readPrefix<JobStateRecord>(keys.allCronStates()),
    ]);
    const now = Date.now();
    this.claimedThisPass.clear();
    let wait = MAX_PASS_INTERVAL_MS;
    const live = new Set<string>();
    for (const [key, job] of jobs) {
      if (!this.active) break;
      const stateKey = keys.cronState(job.value.app, job.value.name);
      const state = states.get(stateKey);
      for (const run of state?.value.active ?? []) live.add(runKey(job.value.app, run.instance));
      try {
        const due = await this.passJob(key, job, state);
        if (due !== undefined) wait = Math.min(wait, due - Date.now());
      } catch (err) {
        this.deps.logger.error({ err, app: job.value.app, job: job.value.name }, 'scheduled job pass failed');
      }
    }
    // Runs of jobs that are gone.
    for (const key of this.claimedThisPass) live.add(key);
    this.runs.forgetAllBut(live);
    return Math.max(10, Math.min(wait, MAX_PASS_INTERVAL_MS - (Date.now() - now)));
  }

  /** Handles one job; returns its next tick, if any. */
  private async passJob(jobKey: string, job: Versioned<JobRecord>, stored: Versioned<JobStateRecord> | undefined): Promise<number | undefined> {
    const j = job.value;
    const schedule = this.scheduleOf(j);
    let state: Versioned<JobStateRecord> = stored ?? { value: emptyState(j), modRevision: '0' };

    // 1. What became of runs in flight.
    const recorded = withOutcomes(j, state.value, this.runs.outcomes);
    if (recorded) {
      const rev = await this.writeState(j, jobKey, job.modRevision, state.modRevision, recorded);
      if (rev === undefined) return undefined; // someone else wrote: next pass
      state = { value: recorded, modRevision: rev };
    }

    // 2. Runs claimed or running that this replica does not start or follow yet.
    for (const run of state.value.active) this.runs.follow(j, run);

    // 3. A `schedule:run` request, then the schedule.
    if (j.fireRequests > state.value.firesHandled) {
      await this.claim(j, jobKey, job.modRevision, state, { tickMs: Date.now(), manual: true });
      this.poke(0);
      return undefined;
    }
    if (!schedule) return undefined;
    const decision = decideTick(schedule, j.createdAtMs, state.value.lastTickMs, Date.now(), j.startingDeadlineMs);
    if (decision.kind === 'wait') return decision.nextTickMs;
    if (decision.kind === 'missed') {
      const missed: RunRecord = {
        instance: '', agentId: '', tickMs: decision.lastMissedMs, release: 0, claimedAtMs: Date.now(), state: 'missed',
        reason: `${decision.count}${decision.countCapped ? ' or more' : ''} tick${decision.count === 1 ? '' : 's'} more than ${formatDuration(j.startingDeadlineMs)} late (no leader could start ${decision.count === 1 ? 'it' : 'them'} in time)`,
      };
      const next: JobStateRecord = {
        ...state.value,
        lastTickMs: decision.lastMissedMs,
        missed: state.value.missed + decision.count,
        history: [missed, ...state.value.history].slice(0, HISTORY_LENGTH),
      };
      if (await this.writeState(j, jobKey, job.modRevision, state.modRevision, next)) {
        this.deps.logger.warn({ app: j.app, job: j.name, missed: decision.count }, 'scheduled ticks missed: later than the starting deadline');
      }
      this.poke(0);
      return undefined;
    }
    await this.claim(j, jobKey, job.modRevision, state, { tickMs: decision.tickMs, manual: false });
    this.poke(0); // more ticks may be due (after an outage)
    return undefined;
  }

  /**
   * Claims a tick (or a `schedule:run` request) in one fenced, revision-checked transaction,
   * then starts its run. With the tick claimed, no leader ever claims it again.
   */
  private async claim(
    job: JobRecord,
    jobKey: string,
    jobRevision: string,
    state: Versioned<JobStateRecord>,
    tick: { tickMs: number; manual: boolean },
  ): Promise<void> {
    const { client, keys, logger, view } = this.deps;
    const current = state.value;
    const advance = (s: JobStateRecord): JobStateRecord =>
      tick.manual ? { ...s, firesHandled: s.firesHandled + 1 } : { ...s, lastTickMs: tick.tickMs };
    const policy = tick.manual ? { start: true, stopActive: false } : decideConcurrency(job.concurrency, current.active.length);
    if (!policy.start) {
      const next = { ...advance(current), skipped: current.skipped + 1, lastSkippedTickMs: tick.tickMs };
      if (await this.writeState(job, jobKey, jobRevision, state.modRevision, next)) {
        logger.info({ app: job.app, job: job.name, tick: new Date(tick.tickMs).toISOString() }, 'scheduled tick skipped: the previous run still goes');
      }
      return;
    }

    // Place and name the run before claiming, so that a later leader can finish starting it.
    let agent: AgentRecord | undefined;
    let release = 0;
    let notStarted: string | undefined;
    try {
      agent = pickAgent(view);
    } catch (err) {
      // No ready agent (a failover, a restart): try again each pass until the starting
      // deadline has passed, when decideTick records the tick as missed.
      logger.debug({ app: job.app, job: job.name, reason: (err as Error).message }, 'scheduled tick waits for a ready agent');
      return;
    }
    try {
      const app = await this.deps.store.getApp(job.app);
      // What the app's instances run: not a newer release whose release command failed or still runs.
      release = deployedOf(app);
      if (release === 0 || !(await this.deps.store.getRelease(job.app, release))?.slug) notStarted = noReleaseYet(job.app);
    } catch (err) {
      notStarted = (err as Error).message;
    }
    const counter = await readRunCounter(client, keys, job.app);
    const run: RunRecord = {
      instance: `run.${counter.next}`,
      agentId: agent?.id ?? '',
      tickMs: tick.tickMs,
      ...(tick.manual ? { manual: true, fireRequest: current.firesHandled + 1 } : {}),
      release,
      claimedAtMs: Date.now(),
      state: 'claimed',
    };
    let next: JobStateRecord;
    if (notStarted) {
      const failed: RunRecord = { ...run, instance: '', state: 'not-started', reason: notStarted, finishedAtMs: Date.now() };
      next = { ...advance(current), history: [failed, ...current.history].slice(0, HISTORY_LENGTH) };
    } else {
      const replaced = policy.stopActive
        ? current.active.map((r) => ({ ...r, reason: `replaced by ${run.instance}` }))
        : current.active;
      next = { ...advance(current), active: [...replaced, run] };
    }
    const counterKey = keys.runCounter(job.app);
    const ok = await this.writeState(job, jobKey, jobRevision, state.modRevision, next,
      notStarted ? [] : [unchangedSince(counterKey, counter.modRevision)],
      notStarted ? [] : [{ put: counterKey, value: String(counter.next) }]);
    if (!ok) return; // another writer (or leader) won: the next pass reads again
    const what = tick.manual ? 'schedule:run' : new Date(tick.tickMs).toISOString();
    if (notStarted) {
      logger.warn({ app: job.app, job: job.name, tick: what, reason: notStarted }, 'scheduled run could not start');
      return;
    }
    logger.info({ app: job.app, job: job.name, tick: what, instance: run.instance, agent: run.agentId }, 'scheduled tick claimed');
    this.claimedThisPass.add(runKey(job.app, run.instance));
    if (policy.stopActive) for (const r of current.active) this.runs.stopInBackground(job.app, r, `replaced by ${run.instance}`);
    this.runs.follow(job, run);
  }

  /**
   * Writes a job's state: fenced by leadership, only if neither the state nor the job changed
   * since read (the job's `schedule:run` count and existence), plus `compares` and `ops`.
   * Returns the new revision, or undefined when a compare failed.
   */
  private async writeState(
    job: JobRecord,
    jobKey: string,
    jobRevision: string,
    stateRevision: string,
    next: JobStateRecord,
    compares: ICompare[] = [],
    ops: WriteOp[] = [],
  ): Promise<string | undefined> {
    const stateKey = this.deps.keys.cronState(job.app, job.name);
    const guard = [this.deps.election.fence(), unchangedSince(jobKey, jobRevision), unchangedSince(stateKey, stateRevision), ...compares];
    const revision = await commitIfAt(this.deps.client, guard, [{ put: stateKey, value: encode(next) }, ...ops]);
    if (revision !== undefined) this.runs.recorded(job.app, next);
    return revision;
  }

  /** The job's parsed schedule (cached by its text and zone); undefined if it no longer parses. */
  private scheduleOf(job: JobRecord): Schedule | undefined {
    const key = runKey(job.app, job.name);
    const cached = this.schedules.get(key);
    if (cached && cached.text === job.schedule && cached.zone === job.timeZone) return cached.schedule;
    try {
      const schedule = parseSchedule(job.schedule, job.timeZone);
      this.schedules.set(key, { text: job.schedule, zone: job.timeZone, schedule });
      return schedule;
    } catch (err) {
      // Checked when added; a time zone this Node no longer knows is logged, never fatal.
      this.deps.logger.error({ err, app: job.app, job: job.name }, 'a stored schedule cannot be read; the job does not run');
      return undefined;
    }
  }

  /** The decodable values under `prefix`, with their revisions. */
  private async readPrefix<T extends object>(prefix: string): Promise<Map<string, Versioned<T>>> {
    const out = new Map<string, Versioned<T>>();
    for (const [key, kv] of await readPrefix(this.deps.client, prefix)) {
      const value = decode<T>(kv.value);
      if (value) out.set(key, { value, modRevision: kv.modRevision });
    }
    return out;
  }
}
