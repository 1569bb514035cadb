/**
 * The leader's release phase (docs/boot-checks.md#release-phase). For each app whose newest
 * release has a pending release command, and for every release whose command is claimed
 * (`running`, whatever release is newest: a new leader looks them all up at its first pass):
 *  1. claim it (only the newest release's): one transaction, fenced by leadership and checked
 *     against the release record's revision, marks it `running` on a chosen agent — before
 *     anything starts;
 *  2. start it there as the detached one-off `release.N` under the run id chosen at the claim (the
 *     agent starts a run once: a later leader sending the same start gets ALREADY_EXISTS and
 *     follows the run instead; the name alone would not do, as an app destroyed and created again
 *     reuses it) — unless a newer release was made before the agent said it started it: it is
 *     then superseded, never started, and stopped should a start have reached its agent;
 *  3. follow it to its exit and record the outcome; on success move the app's `deployed` release
 *     in the same transaction, which is what lets the scheduler roll it.
 * It reuses the scheduled jobs' launcher (cron/run-launcher.ts).
 */
import { randomUUID } from 'node:crypto';
import type { Etcd3 } from 'etcd3';
import type { Logger } from '../../lib/log';
import { releaseRunName } from '../../lib/release-phase';
import type { RunExit__Output } from '../../proto/gen/cluster/run/RunExit';
import type { AgentDialer } from '../agents/agent-dialer';
import { startOneOff, stopRun, watchRun, type RunWatch } from '../cron/run-launcher';
import { commitIf, unchangedSince, type WriteOp } from '../etcd/batch';
import type { Keys } from '../keys';
import type { LeaderElection } from '../leader/election';
import { encode, type AgentRecord, type AppRecord, type ReleasePhaseRecord, type ReleaseRecord } from '../records';
import { claimKey, PhaseWrites, type StartMark } from './phase-writes';
import { runningReleases, type ReleaseRef } from './running-releases';
import { pickAgent } from '../run/one-off';
import { deployedOf } from '../state/app-store';
import type { ClusterView } from '../state/cluster-view';
import { PassLoop } from '../leader/pass-loop';

/** The longest pause between passes (an agent that became ready, a retry). */
const PASS_INTERVAL_MS = 1_000;
/** A watch whose call broke is made again after this long. */
const REWATCH_AFTER_MS = 2_000;

export interface ReleasePhaseDeps {
  client: Etcd3;
  keys: Keys;
  view: ClusterView;
  election: LeaderElection;
  dialer: AgentDialer;
  logger: Logger;
  /** How long the run's agent may stay unregistered before the run counts as lost. */
  agentDownGraceMs: number;
}

interface Followed {
  app: string;
  /** The app's creation time: an app destroyed and created again is another app. */
  appCreatedAtMs: number;
  instance: string;
  /** The run id the agent knows the run by ('' when claimed by a leader of an older version). */
  runId: string;
  agentId: string;
  busy: boolean;
  watch?: RunWatch;
  retryAt: number;
  agentMissingSince?: number;
  /** The agent said it started it (also recorded in the phase, when etcd took it). */
  started: boolean;
  /** Starts that got no answer, one after the other. */
  unsure: number;
}

/** Starts without an answer (each up to the start timeout) before the release fails. */
const MAX_UNSURE_STARTS = 5;

export class ReleasePhaseLoop {
  private readonly followed = new Map<string, Followed>();
  /** Releases whose phase was `running` when last read, by `app/version`: followed until settled. */
  private readonly tracked = new Map<string, ReleaseRef>();
  /** Whether this leadership looked up the releases earlier leaders left running. */
  private scanned = false;
  private readonly writes: PhaseWrites;
  private readonly onApps = () => this.poke();

  private readonly loop: PassLoop;

  constructor(private readonly deps: ReleasePhaseDeps) {
    this.writes = new PhaseWrites(deps);
    this.loop = new PassLoop(() => this.pass(), {
      everyMs: PASS_INTERVAL_MS,
      retryMs: PASS_INTERVAL_MS,
      onError: (err) => deps.logger.warn({ err }, 'release phase pass failed; retrying'),
    });
  }

  start(): void {
    if (this.loop.start()) this.deps.view.apps.on('change', this.onApps);
  }

  /** Stops (deposed or closing). Runs go on; the next leader follows them. */
  async stop(): Promise<void> {
    this.deps.view.apps.off('change', this.onApps);
    if (!(await this.loop.stop())) return;
    for (const f of this.followed.values()) f.watch?.cancel();
    this.followed.clear();
    this.tracked.clear();
    this.scanned = false;
  }

  private poke(delayMs = 0): void {
    this.loop.poke(delayMs);
  }

  private get active(): boolean {
    return this.loop.isActive;
  }

  private async pass(): Promise<void> {
    this.dropRunsOfDestroyedApps();
    if (!this.scanned) {
      for (const ref of await runningReleases(this.deps.client, this.deps.keys)) this.tracked.set(refKey(ref), ref);
      this.scanned = true;
    }
    const apps = new Map(this.deps.view.appList().map((a) => [a.name, a]));
    const visits = new Map<string, ReleaseRef>();
    for (const app of apps.values()) {
      if (app.release > deployedOf(app)) visits.set(refKey({ app: app.name, version: app.release }), { app: app.name, version: app.release });
    }
    for (const [key, ref] of this.tracked) {
      if (apps.has(ref.app)) visits.set(key, ref);
      else this.tracked.delete(key);
    }
    for (const { app, version } of visits.values()) {
      if (!this.active) return;
      await this.advance(apps.get(app)!, version);
    }
  }

  /**
   * Release commands of apps destroyed meanwhile (also when created again since: their release
   * numbers start over) are no longer followed, and are stopped should the replica that destroyed
   * the app not have reached their agent (api/destroyed-one-offs.ts).
   */
  private dropRunsOfDestroyedApps(): void {
    const apps = new Map(this.deps.view.appList().map((a) => [a.name, a.createdAtMs]));
    for (const [key, f] of this.followed) {
      if (apps.get(f.app) === f.appCreatedAtMs) continue;
      f.watch?.cancel();
      this.followed.delete(key);
      const agent = this.deps.view.agent(f.agentId);
      if (!agent?.address) continue;
      stopRun(this.deps.dialer, agent, { app: f.app, instance: f.instance, runId: f.runId || undefined }, `app \`${f.app}\` was destroyed`).then(
        (found) => {
          if (found) this.deps.logger.info({ app: f.app, instance: f.instance, agent: agent.id }, 'stopped the release command of a destroyed app');
        },
        (err: unknown) => this.deps.logger.warn({ err, app: f.app, instance: f.instance, agent: agent.id }, 'could not stop the release command of a destroyed app'),
      );
    }
  }

  /** One step for a release: claim its release command (the newest release's only), or follow it. */
  private async advance(app: AppRecord, version: number): Promise<void> {
    const { release, modRevision } = await this.writes.readRelease(app.name, version);
    const phase = release?.phase;
    const ref = { app: app.name, version };
    if (phase?.state === 'running') this.tracked.set(refKey(ref), ref);
    else this.tracked.delete(refKey(ref));
    if (!release || !phase) return;
    if (phase.state === 'pending' && version === app.release) {
      let agentId: string;
      try {
        agentId = pickAgent(this.deps.view).id;
      } catch {
        return; // no ready agent yet: the next pass tries again
      }
      const claimed: ReleasePhaseRecord = { ...phase, state: 'running', agentId, startedAtMs: Date.now(), runId: randomUUID() };
      const ok = await commitIf(this.deps.client, [this.deps.election.fence(), unchangedSince(this.deps.keys.release(app.name, release.version), modRevision)], [
        { put: this.deps.keys.release(app.name, release.version), value: encode({ ...release, phase: claimed }) },
      ]);
      if (!ok) return;
      this.deps.logger.info({ app: app.name, release: release.version, agent: agentId }, 'release phase claimed');
      this.tracked.set(refKey(ref), ref);
      this.follow(app, { ...release, phase: claimed });
    } else if (phase.state === 'running') {
      this.follow(app, release);
    }
  }

  /**
   * Starts the claimed release command, unless its agent said it started it already (recorded in
   * the phase), and follows it. A start is asked again only while unanswered: the agent starts a
   * name once, but an agent that restarted has forgotten the names it ran.
   */
  private follow(appRecord: AppRecord, release: ReleaseRecord): void {
    const app = appRecord.name;
    const phase = release.phase!;
    const instance = releaseRunName(release.version);
    const runId = phase.runId ?? '';
    const key = claimKey(app, release.version, phase);
    let f = this.followed.get(key);
    if (!f) {
      f = { app, appCreatedAtMs: appRecord.createdAtMs, instance, runId, agentId: phase.agentId ?? '', busy: false, retryAt: 0, started: phase.started === true, unsure: 0 };
      this.followed.set(key, f);
    }
    if (f.busy || f.watch || Date.now() < f.retryAt) return;
    const agent = phase.agentId ? this.deps.view.agent(phase.agentId) : undefined;
    if (!agent) {
      f.agentMissingSince ??= Date.now();
      if (Date.now() - f.agentMissingSince > this.deps.agentDownGraceMs) {
        this.finishInBackground(app, release.version, key, { ok: false, reason: `its agent ${phase.agentId} went away` });
      }
      return;
    }
    f.agentMissingSince = undefined;
    if (!phase.started && !f.started && appRecord.release > release.version) {
      this.supersedeUnstarted(f, agent, release.version, key);
      return;
    }
    f.busy = true;
    const followed = f;
    const watch = () => {
      followed.watch = watchRun(this.deps.dialer, agent, { app, instance, runId }, {
        onExit: (exit) => this.finishInBackground(app, release.version, key, outcomeOf(exit, phase.timeoutMs)),
        onNotStarted: (reason) => this.finishInBackground(app, release.version, key, { ok: false, reason }),
        onUnknown: () => this.finishInBackground(app, release.version, key, { ok: false, reason: `${agent.id} no longer knows it (the agent restarted); it was not started again` }),
        onBroken: (reason) => {
          this.deps.logger.warn({ app, instance, reason }, 'lost track of the release command; following it again soon');
          followed.watch = undefined;
          followed.retryAt = Date.now() + REWATCH_AFTER_MS;
        },
      });
    };
    if (f.started) {
      f.busy = false;
      watch();
      return;
    }
    startOneOff(this.deps.dialer, agent, {
      app,
      command: phase.command,
      detach: true,
      instance,
      release: release.version,
      slug: release.slug,
      env: release.env,
      timeout_ms: phase.timeoutMs,
      job: '',
      run_id: runId,
    }).then(async (result) => {
      if (!this.active) return;
      if (result.kind === 'unsure' && ++followed.unsure < MAX_UNSURE_STARTS) {
        this.deps.logger.warn({ app, instance, reason: result.reason }, 'not sure the release command started; asking again soon');
        followed.busy = false;
        followed.retryAt = Date.now() + REWATCH_AFTER_MS;
        return;
      }
      if (result.kind === 'failed' || result.kind === 'unsure') {
        followed.busy = false;
        this.finishInBackground(app, release.version, key, { ok: false, reason: result.reason });
        return;
      }
      let mark: StartMark | 'unrecorded';
      try {
        mark = await this.writes.markStarted(app, release.version, key, () => this.active);
      } catch (err) {
        mark = 'unrecorded';
        this.deps.logger.warn({ err, app, release: release.version }, 'could not record that the release command started (this replica remembers it)');
      }
      followed.busy = false;
      if (!this.active) return;
      if (mark === 'superseded') {
        // A newer release was made while the start was on its way: the run raced it, and stops.
        this.supersedeUnstarted(followed, agent, release.version, key);
        return;
      }
      followed.started = true;
      watch();
    }).catch((err: unknown) => {
      // The agent could not be dialled: a later pass starts it again (the agent refuses a second start).
      this.deps.logger.warn({ err, app, instance }, 'could not start the release command; trying again soon');
      followed.busy = false;
      followed.retryAt = Date.now() + REWATCH_AFTER_MS;
    });
  }

  /**
   * A newer release supersedes a claimed release whose command the agent has not said it started:
   * it never starts. Its agent is asked to stop it first, should a start (an earlier leader's, or
   * one that raced the newer release) have reached it; then the phase says superseded. A stop
   * that could not be asked is tried again at a later pass.
   */
  private supersedeUnstarted(f: Followed, agent: AgentRecord, version: number, key: string): void {
    f.busy = true;
    const run = { app: f.app, instance: f.instance, runId: f.runId || undefined };
    this.writes.readApp(f.app)
      .then(async (current) => {
        // Checked in etcd before anything stops: the view may lag behind an app made again.
        if (!current || current.record.release <= version) return;
        const stopped = await stopRun(this.deps.dialer, agent, run, `a newer release of \`${f.app}\` supersedes v${version}`);
        const phase = await this.writes.supersedeUnstarted(f.app, version, key, stopped, () => this.active);
        if (phase) this.deps.logger.info({ app: f.app, release: version, agent: agent.id, reason: phase.reason }, 'release phase superseded before its command was known to have started');
        if (this.followed.get(key) === f) this.followed.delete(key);
      })
      .catch((err: unknown) => {
        this.deps.logger.warn({ err, app: f.app, release: version, agent: agent.id }, 'could not stop a superseded release command; trying again soon');
        f.retryAt = Date.now() + REWATCH_AFTER_MS;
      })
      .finally(() => {
        f.busy = false;
      });
  }

  /**
   * Records an outcome without waiting. When that fails (etcd unreachable) the run stays
   * `running` in etcd and is no longer followed here: the next pass follows it again and
   * records its outcome then.
   */
  private finishInBackground(app: string, version: number, key: string, outcome: { ok: boolean; status?: number; reason?: string }): void {
    this.finish(app, version, key, outcome).catch((err: unknown) =>
      this.deps.logger.warn({ err, app, release: version }, 'could not record the release phase\'s outcome; the next pass follows it again'));
  }

  /**
   * Records the outcome of the claim `key` (claimKey); on success the app's instances roll to the
   * release. Nothing when the release's phase is no longer that claim: the app was destroyed, and
   * its release vN now is another app's.
   */
  private async finish(app: string, version: number, key: string, outcome: { ok: boolean; status?: number; reason?: string }): Promise<void> {
    try {
      for (let attempt = 0; attempt < 10 && this.active; attempt++) {
        const { release, modRevision } = await this.writes.readRelease(app, version);
        if (!release?.phase || release.phase.state !== 'running' || claimKey(app, version, release.phase) !== key) return;
        let phase: ReleasePhaseRecord = {
          ...release.phase,
          state: outcome.ok ? 'succeeded' : 'failed',
          finishedAtMs: Date.now(),
          ...(outcome.status !== undefined ? { status: outcome.status } : {}),
          ...(outcome.reason ? { reason: outcome.reason } : {}),
        };
        const compares = [this.deps.election.fence(), unchangedSince(this.deps.keys.release(app, version), modRevision)];
        const ops: WriteOp[] = [];
        if (outcome.ok) {
          const current = await this.writes.readApp(app);
          if (!current) return; // destroyed meanwhile
          const { record } = current;
          // Compared, so that a release made meanwhile is seen here (and retried) rather than raced.
          compares.push(unchangedSince(this.deps.keys.app(app), current.modRevision));
          if (record.release > version) {
            // A newer release supersedes it: going live now would put older code over the newer
            // one's, whose own command may have failed (and must leave the running release live).
            phase = { ...phase, state: 'superseded', reason: supersededReason(record.release) };
          } else if (deployedOf(record) < version) {
            ops.push({ put: this.deps.keys.app(app), value: encode({ ...record, deployed: version }) });
          }
        }
        ops.push({ put: this.deps.keys.release(app, version), value: encode({ ...release, phase }) });
        if (await commitIf(this.deps.client, compares, ops)) {
          const log = { app, release: version, status: outcome.status, reason: phase.reason };
          if (phase.state === 'succeeded') this.deps.logger.info(log, 'release phase passed: rolling out');
          else if (phase.state === 'superseded') this.deps.logger.info(log, 'release phase passed, but a newer release supersedes it: nothing rolls');
          else this.deps.logger.warn(log, 'release phase failed: nothing rolls');
          return;
        }
      }
    } finally {
      this.followed.get(key)?.watch?.cancel();
      this.followed.delete(key);
    }
  }
}

/** A release's key in `tracked`. */
function refKey(ref: ReleaseRef): string {
  return `${ref.app}/${ref.version}`;
}

/** Why a release whose command passed does not go live. */
function supersededReason(newest: number): string {
  return `its command passed, but v${newest} was made meanwhile and supersedes it; nothing rolled`;
}

/** The outcome of a release command's exit. */
function outcomeOf(exit: RunExit__Output, timeoutMs: number): { ok: boolean; status: number; reason?: string } {
  if (exit.timed_out) return { ok: false, status: exit.status, reason: `took longer than its ${timeoutMs / 1000} s timeout (--release-timeout); stopped` };
  // Only `ps:stop`/`ps:kill` stop a release command on request (a destroyed app's has no record
  // left). A stopped migration fails its release even when it exits 0 on SIGTERM: it did not finish.
  if (exit.stopped) return { ok: false, status: exit.status, reason: `stopped on request (\`cluster ps:stop\` or \`ps:kill\`): ${exitWords(exit)}` };
  if (exit.status === 0 && !exit.signal) return { ok: true, status: 0 };
  // Stopped by its agent (restarting): say so, not only the signal.
  if (exit.stopped_by_agent) return { ok: false, status: exit.status, reason: `${exitWords(exit)}: ${exit.stopped_by_agent}` };
  return { ok: false, status: exit.status, reason: exitWords(exit) };
}

/** How a release command ended, in words. */
function exitWords(exit: RunExit__Output): string {
  return exit.signal ? `killed by ${exit.signal} (status ${exit.status})` : `exited with status ${exit.status}`;
}
