/**
 * The scheduled runs the leader's cron loop started or follows (cron-loop.ts): it starts a
 * claimed run on its agent, watches it, and keeps what became of it (started, exited, lost,
 * never started) as an outcome until the loop has recorded it in the job's state. A run whose
 * agent stays away longer than `agentDownGraceMs` ends as lost (or not started).
 * docs/scheduled-jobs.md.
 */
import type { Logger } from '../../lib/log';
import { formatDuration } from '../../lib/cron/duration';
import type { AgentDialer } from '../agents/agent-dialer';
import type { AgentRecord } from '../records';
import type { AppStore } from '../state/app-store';
import type { ClusterView } from '../state/cluster-view';
import type { JobRecord, JobStateRecord, RunRecord } from './records';
import { startRun, stopRun, watchRun, type RunWatch } from './run-launcher';
import { runKey, type Outcome } from './run-outcomes';

/** A watch whose call broke is made again after this long. */
const REWATCH_AFTER_MS = 2_000;

export interface RunFollowerDeps {
  view: ClusterView;
  store: AppStore;
  dialer: AgentDialer;
  logger: Logger;
  /** How long a run's agent may stay unregistered before the run counts as lost (two lease TTLs). */
  agentDownGraceMs: number;
}

/** A run this replica starts or follows. */
interface Followed {
  agentId: string;
  watch?: RunWatch;
  /** Starting (a Run call in flight): not followed yet. */
  starting?: boolean;
  rewatchAt: number;
  /** Since when (this replica's clock) its agent has not been registered. */
  agentMissingSince?: number;
}

export class RunFollower {
  private readonly followed = new Map<string, Followed>();
  private readonly outcomesByRun = new Map<string, Outcome>();

  /**
   * `onOutcome`: a run started or ended (the loop records it in a pass soon); `isActive`: the
   * loop still leads (a run that started after it stopped is left to the next leader).
   */
  constructor(
    private readonly deps: RunFollowerDeps,
    private readonly onOutcome: () => void,
    private readonly isActive: () => boolean,
  ) {}

  /** What became of runs, by `app/run.N`, not recorded yet. */
  get outcomes(): ReadonlyMap<string, Outcome> {
    return this.outcomesByRun;
  }

  /** The outcomes `state` now records (written by the loop) are done with. */
  recorded(app: string, state: JobStateRecord): void {
    for (const run of state.history) this.outcomesByRun.delete(runKey(app, run.instance));
    for (const run of state.active) {
      const key = runKey(app, run.instance);
      if (run.state === 'running' && this.outcomesByRun.get(key)?.kind === 'started') this.outcomesByRun.delete(key);
    }
  }

  /** Stops following everything (the loop stopped leading). Runs go on; the next leader follows them. */
  clear(): void {
    for (const f of this.followed.values()) f.watch?.cancel();
    this.followed.clear();
    this.outcomesByRun.clear();
  }

  /** Starts a claimed run, or follows a running one, unless this replica does already. */
  follow(job: JobRecord, run: RunRecord): void {
    const key = runKey(job.app, run.instance);
    if (this.outcomesByRun.has(key)) return;
    let f = this.followed.get(key);
    if (!f) {
      f = { agentId: run.agentId, rewatchAt: 0 };
      this.followed.set(key, f);
    }
    if (f.starting || f.watch || Date.now() < f.rewatchAt) return;
    const agent = this.registeredAgent(run.agentId);
    if (!agent) {
      f.agentMissingSince ??= Date.now();
      if (Date.now() - f.agentMissingSince > this.deps.agentDownGraceMs) {
        const lost = run.state === 'claimed'
          ? { state: 'not-started' as const, reason: `its host ${run.agentId} went away before it started` }
          : { state: 'lost' as const, reason: `its host ${run.agentId} went away; the exit is unknown` };
        this.setOutcome(key, { kind: 'ended', ...lost });
      }
      return;
    }
    f.agentMissingSince = undefined;
    if (run.state === 'claimed') {
      if (Date.now() - run.tickMs > job.startingDeadlineMs) {
        // Too late to start now; an earlier leader may have started it: ask the agent.
        this.watch(key, f, agent, job, run, 'missed');
        return;
      }
      f.starting = true;
      // startClaimed() records its own failures as the run's outcome; a rejection is a bug.
      this.startClaimed(key, f, agent, job, run).catch((err: unknown) =>
        this.deps.logger.error({ err, app: job.app, job: job.name, instance: run.instance }, 'bug: starting a scheduled run failed'));
      return;
    }
    this.watch(key, f, agent, job, run, 'lost');
  }

  private async startClaimed(key: string, f: Followed, agent: AgentRecord, job: JobRecord, run: RunRecord): Promise<void> {
    try {
      const release = await this.deps.store.getRelease(job.app, run.release);
      if (!release?.slug) {
        this.setOutcome(key, { kind: 'ended', state: 'not-started', reason: `release v${run.release} of \`${job.app}\` has no code` });
        return;
      }
      const result = await startRun(this.deps.dialer, agent, job, run, release);
      if (result.kind === 'unsure') {
        // Still `claimed`: a later pass asks again with the same name (the agent starts a name once),
        // and past the starting deadline asks whether it ran.
        this.deps.logger.warn({ app: job.app, job: job.name, instance: run.instance, agent: agent.id, reason: result.reason }, 'not sure a scheduled run started; asking again soon');
        f.rewatchAt = Date.now() + REWATCH_AFTER_MS;
        return;
      }
      if (result.kind === 'failed') {
        this.setOutcome(key, { kind: 'ended', state: 'not-started', reason: result.reason });
        return;
      }
      if (result.kind === 'started') this.setOutcome(key, { kind: 'started', startedAtMs: result.startedAtMs });
      this.deps.logger.info({ app: job.app, job: job.name, instance: run.instance, agent: agent.id, resumed: result.kind === 'known' }, 'scheduled run started');
      f.starting = false;
      if (this.isActive()) this.watch(key, f, agent, job, { ...run, state: 'running' }, 'lost');
    } catch (err) {
      this.setOutcome(key, { kind: 'ended', state: 'not-started', reason: (err as Error).message });
    } finally {
      f.starting = false;
    }
  }

  private watch(key: string, f: Followed, agent: AgentRecord, job: JobRecord, run: RunRecord, unknownState: 'lost' | 'missed'): void {
    f.watch = watchRun(this.deps.dialer, agent, { app: job.app, instance: run.instance }, {
      onExit: (exit) => this.setOutcome(key, { kind: 'exit', exit }),
      onNotStarted: (reason) => this.setOutcome(key, { kind: 'ended', state: 'not-started', reason }),
      onUnknown: () =>
        this.setOutcome(key, {
          kind: 'ended',
          state: unknownState,
          reason: unknownState === 'missed'
            ? `not started: its leader stopped after claiming it, and it was more than ${formatDuration(job.startingDeadlineMs)} late when another could`
            : `${agent.id} no longer knows it (the agent restarted?); the exit is unknown`,
        }),
      onBroken: (reason) => {
        f.watch = undefined;
        f.rewatchAt = Date.now() + REWATCH_AFTER_MS;
        this.deps.logger.debug({ app: job.app, instance: run.instance, agent: agent.id, reason }, 'lost track of a scheduled run; asking again soon');
      },
    });
  }

  private setOutcome(key: string, outcome: Outcome): void {
    const previous = this.outcomesByRun.get(key);
    // An exit or an end wins over "started" (a quick run can end before its start is recorded).
    if (previous && previous.kind !== 'started' && outcome.kind === 'started') return;
    this.outcomesByRun.set(key, outcome);
    if (outcome.kind !== 'started') {
      const f = this.followed.get(key);
      f?.watch?.cancel();
      this.followed.delete(key);
    }
    this.onOutcome();
  }

  /** Runs not in `live` (`app/run.N`; their job is gone): no longer followed; stopped when their app was destroyed. */
  forgetAllBut(live: Set<string>): void {
    const apps = new Set(this.deps.view.appList().map((a) => a.name));
    for (const [key, f] of this.followed) {
      if (live.has(key)) continue;
      f.watch?.cancel();
      this.followed.delete(key);
      this.outcomesByRun.delete(key);
      const [app, instance] = key.split('/') as [string, string];
      if (!apps.has(app)) {
        this.stopInBackground(app, { instance, agentId: f.agentId } as RunRecord, `app \`${app}\` was destroyed`);
      }
    }
    for (const key of this.outcomesByRun.keys()) if (!live.has(key)) this.outcomesByRun.delete(key);
  }

  /** Stops a run without waiting; stopRunOf() logs a failed stop itself, a rejection is a bug. */
  stopInBackground(app: string, run: RunRecord, reason: string): void {
    this.stopRunOf(app, run, reason).catch((err: unknown) => this.deps.logger.error({ err, app, instance: run.instance }, 'bug: stopping a scheduled run failed'));
  }

  private async stopRunOf(app: string, run: RunRecord, reason: string): Promise<void> {
    const agent = this.registeredAgent(run.agentId);
    if (!agent) return;
    try {
      await stopRun(this.deps.dialer, agent, { app, instance: run.instance }, reason);
      this.deps.logger.info({ app, instance: run.instance, agent: agent.id, reason }, 'scheduled run stopped');
    } catch (err) {
      this.deps.logger.warn({ err, app, instance: run.instance, agent: agent.id }, 'could not stop a scheduled run');
    }
  }

  private registeredAgent(id: string): AgentRecord | undefined {
    if (!id) return undefined;
    const agent = this.deps.view.agent(id);
    return agent?.address ? agent : undefined;
  }
}
