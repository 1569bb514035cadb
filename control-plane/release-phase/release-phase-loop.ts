/**
 * The leader's release phase (docs/boot-checks.md#release-phase). For each app whose newest
 * release has a pending or running release command:
 *  1. claim it: one transaction, fenced by leadership and checked against the release record's
 *     revision, marks it `running` on a chosen agent — before anything starts;
 *  2. start it there as the detached one-off `release.N` under the run id chosen at the claim (the
 *     agent starts a run once: a later leader sending the same start gets ALREADY_EXISTS and
 *     follows the run instead; the name alone would not do, as an app destroyed and created again
 *     reuses it);
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
import { decode, encode, type AppRecord, type ReleasePhaseRecord, type ReleaseRecord } from '../records';
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
  private readonly onApps = () => this.poke();

  private readonly loop: PassLoop;

  constructor(private readonly deps: ReleasePhaseDeps) {
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
  }

  private poke(delayMs = 0): void {
    this.loop.poke(delayMs);
  }

  private get active(): boolean {
    return this.loop.isActive;
  }

  private async pass(): Promise<void> {
    this.dropRunsOfDestroyedApps();
    for (const app of this.deps.view.appList()) {
      if (!this.active) return;
      if (app.release > deployedOf(app)) await this.advance(app);
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

  /** One step for the app's newest release: claim its release command, or follow it. */
  private async advance(app: AppRecord): Promise<void> {
    const { release, modRevision } = await this.readRelease(app.name, app.release);
    const phase = release?.phase;
    if (!release || !phase) return;
    if (phase.state === 'pending') {
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
    f.busy = true;
    const followed = f;
    const watch = () => {
      followed.watch = watchRun(this.deps.dialer, agent, { app, instance, runId }, {
        onExit: (exit) => this.finishInBackground(app, release.version, key, outcomeOf(exit, phase.timeoutMs)),
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
    }).then((result) => {
      followed.busy = false;
      if (!this.active) return;
      if (result.kind === 'unsure' && ++followed.unsure < MAX_UNSURE_STARTS) {
        this.deps.logger.warn({ app, instance, reason: result.reason }, 'not sure the release command started; asking again soon');
        followed.retryAt = Date.now() + REWATCH_AFTER_MS;
        return;
      }
      if (result.kind === 'failed' || result.kind === 'unsure') {
        this.finishInBackground(app, release.version, key, { ok: false, reason: result.reason });
        return;
      }
      followed.started = true;
      this.markStarted(app, release.version, key).catch((err: unknown) =>
        this.deps.logger.warn({ err, app, release: release.version }, 'could not record that the release command started (this replica remembers it)'));
      watch();
    }).catch((err: unknown) => {
      // The agent could not be dialled: a later pass starts it again (the agent refuses a second start).
      this.deps.logger.warn({ err, app, instance }, 'could not start the release command; trying again soon');
      followed.busy = false;
      followed.retryAt = Date.now() + REWATCH_AFTER_MS;
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
        const { release, modRevision } = await this.readRelease(app, version);
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
          const res = await this.deps.client.kv.range({ key: Buffer.from(this.deps.keys.app(app)) });
          const kv = res.kvs[0];
          const record = decode<AppRecord>(kv?.value);
          if (!kv || !record) return; // destroyed meanwhile
          // Compared, so that a release made meanwhile is seen here (and retried) rather than raced.
          compares.push(unchangedSince(this.deps.keys.app(app), kv.mod_revision));
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

  /** Records in the phase that its command started, so that no leader ever starts it again. */
  private async markStarted(app: string, version: number, key: string): Promise<void> {
    for (let attempt = 0; attempt < 3 && this.active; attempt++) {
      const { release, modRevision } = await this.readRelease(app, version);
      if (!release?.phase || release.phase.state !== 'running' || release.phase.started || claimKey(app, version, release.phase) !== key) return;
      const compares = [this.deps.election.fence(), unchangedSince(this.deps.keys.release(app, version), modRevision)];
      const ops = [{ put: this.deps.keys.release(app, version), value: encode({ ...release, phase: { ...release.phase, started: true } }) }];
      if (await commitIf(this.deps.client, compares, ops)) return;
    }
  }

  private async readRelease(app: string, version: number): Promise<{ release: ReleaseRecord | undefined; modRevision: string }> {
    const res = await this.deps.client.kv.range({ key: Buffer.from(this.deps.keys.release(app, version)) });
    const kv = res.kvs[0];
    return { release: decode<ReleaseRecord>(kv?.value), modRevision: kv?.mod_revision ?? '0' };
  }
}

/**
 * One claim of a release command: its run id, or (claimed by a leader of an older version, which
 * chose none) the time of the claim. An app destroyed and created again claims its release.N anew.
 */
function claimKey(app: string, version: number, phase: ReleasePhaseRecord): string {
  return `${app}/${releaseRunName(version)}/${phase.runId ?? `claimed-at-${phase.startedAtMs ?? 0}`}`;
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
  return { ok: false, status: exit.status, reason: exitWords(exit) };
}

/** How a release command ended, in words. */
function exitWords(exit: RunExit__Output): string {
  return exit.signal ? `killed by ${exit.signal} (status ${exit.status})` : `exited with status ${exit.status}`;
}
