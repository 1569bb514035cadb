/**
 * Writes the users' desired state: apps, releases, formations, restarts. Every
 * read-modify-write compares mod revisions and retries on a lost race, so two CLIs or
 * two replicas never lose each other's update. The entry every caller uses; the work is in
 * release-writes.ts, release-changes.ts, formation-writes.ts, scale-change.ts and
 * formation-settings.ts, over the reads of app-reads.ts.
 */
import type { Etcd3 } from 'etcd3';
import type { Keys } from '../keys';
import { commitIf, exists, unchangedSince, type WriteOp } from '../etcd/batch';
import { AlreadyExistsError, InvalidArgumentError, noSuchInstance, NotFoundError } from '../errors';
import { encode, EMPTY_FORMATION, type AppRecord, type FormationRecord, type PlacementRecord, type ReleaseRecord } from '../records';
import { DEFAULT_MAX_PER_TYPE } from '../../lib/limits';
import type { LogMode } from '../../lib/log-mode';
import { appNameProblem, parseInstanceName } from '../../lib/names';
import { own } from '../../lib/own';
import { isOneOffType } from '../../lib/one-off';
import { AppReads, tagOf } from './app-reads';
import { ReleaseWrites, type NewRelease, type ReleaseChange } from './release-writes';
import { ConfigUnchanged, configChange, rollbackChange } from './release-changes';
import { FormationWrites } from './formation-writes';
import { applyScale, checkScaleChanges, type ScaleChange } from './scale-change';
import { bootTimeoutSettings, graceSettings, logModeSettings, placementSettings, type PlacementRule } from './formation-settings';
import { releaseWithCode, requireDeployedType, typesItHas } from './release-types';
import { RequestRecords, type RequestTag } from './request-records';

export { deployedOf, type NewRelease } from './release-writes';
export { type ScaleChange } from './scale-change';
export { MAX_RULE_LABELS } from './formation-settings';

/**
 * The methods that change state take an optional request id (lib/request-id.ts): the change is
 * recorded with it in the same transaction, and a call with an id already recorded answers the
 * recorded result without changing anything again (state/request-records.ts).
 */
export class AppStore {
  /** The records of requests' changes, shared by the other stores (one lease per replica). */
  readonly requests: RequestRecords;
  private readonly reads: AppReads;
  private readonly releases: ReleaseWrites;
  private readonly formations: FormationWrites;

  constructor(private readonly client: Etcd3, readonly keys: Keys, readonly maxPerType = DEFAULT_MAX_PER_TYPE) {
    this.requests = new RequestRecords(client, keys);
    this.reads = new AppReads(client, keys);
    this.releases = new ReleaseWrites(client, this.reads, this.requests);
    this.formations = new FormationWrites(this.reads, this.requests);
  }

  async createApp(name: string): Promise<AppRecord> {
    const problem = appNameProblem(name);
    if (problem) throw new InvalidArgumentError(problem);
    const app: AppRecord = { name, createdAtMs: Date.now(), release: 0 };
    const created = await commitIf(this.client, [unchangedSince(this.keys.app(name), '0')], [
      { put: this.keys.app(name), value: encode(app) },
      { put: this.keys.formation(name), value: encode(EMPTY_FORMATION) },
    ]);
    if (!created) throw new AlreadyExistsError(`app \`${name}\` already exists`);
    return app;
  }

  /** Removes the app and its jobs; the leader then removes its assignments and agents stop its instances. */
  async destroyApp(name: string): Promise<void> {
    await this.reads.requireApp(name, 'nothing to destroy (`cluster apps` lists the apps)');
    const ops: WriteOp[] = [
      { delete: this.keys.app(name) },
      { delete: this.keys.formation(name) },
      { delete: this.keys.releases(name), prefix: true },
      // Its scheduled jobs and their history (the API stops their runs: api/apps.ts).
      { delete: this.keys.schedules(name), prefix: true },
      { delete: this.keys.cronStates(name), prefix: true },
    ];
    if (!(await commitIf(this.client, [exists(this.keys.app(name))], ops))) {
      throw new NotFoundError(`app \`${name}\` not found`);
    }
  }

  async getApp(name: string): Promise<AppRecord> {
    return (await this.reads.requireApp(name)).value;
  }

  /** The app and the revision its record was written at (a mirror that has reached it shows whether it still exists). */
  async getAppVersion(name: string): Promise<{ app: AppRecord; modRevision: number }> {
    const { value, modRevision } = await this.reads.requireApp(name);
    return { app: value, modRevision: Number(modRevision) };
  }

  /** Creates release vN+1 and makes it current, in one transaction. */
  async createRelease(name: string, input: NewRelease | ReleaseChange, request?: RequestTag): Promise<ReleaseRecord> {
    return (await this.releases.commit(name, input, undefined, request)).release;
  }

  /**
   * A release of newly deployed code. The first deploy of an app, while its formation is empty,
   * also sets `firstFormation` (checked by the caller), else web=1 when the release has a `web`
   * type (as Heroku does), in the same transaction; `scaled` says so.
   */
  async deploy(name: string, input: NewRelease, firstFormation?: Record<string, number>): Promise<{ release: ReleaseRecord; scaled: Record<string, number> }> {
    return this.releases.commit(name, input, { counts: firstFormation });
  }

  /** The app's config vars (those of its current release). */
  async getConfig(name: string): Promise<Record<string, string>> {
    const app = await this.getApp(name);
    return app.release > 0 ? ((await this.getRelease(name, app.release))?.env ?? {}) : {};
  }

  /**
   * Sets and unsets config vars in a new release (keys validated; values never described). With
   * `skipNotSet`, keys to unset that are not set are left alone and returned in `notSet`; when
   * nothing is left to change no release is made (`changed` false, `release` the current one).
   */
  async setConfig(
    name: string,
    set: Record<string, string>,
    unset: string[],
    requestId?: string,
    skipNotSet = false,
  ): Promise<{ changed: true; release: ReleaseRecord; notSet: string[] } | { changed: false; release: ReleaseRecord | undefined; notSet: string[] }> {
    const change = configChange(set, unset, skipNotSet);
    try {
      const release = await this.createRelease(name, change, tagOf(requestId, `config ${name}`));
      // Read from the release it was made from, not taken from the change: a retry of a call
      // that was applied answers the recorded release without applying the change again.
      const notSet = skipNotSet ? await this.keysNotSetBefore(name, release, unset) : [];
      return { changed: true, release, notSet };
    } catch (err) {
      if (err instanceof ConfigUnchanged) return { changed: false, release: err.release, notSet: err.notSet };
      throw err;
    }
  }

  /** Those of `keys` that the release before `release` (the one it was made from) did not set. */
  private async keysNotSetBefore(name: string, release: ReleaseRecord, keys: string[]): Promise<string[]> {
    const env = release.version > 1 ? (await this.getRelease(name, release.version - 1))?.env ?? {} : {};
    return keys.filter((key) => !Object.hasOwn(env, key));
  }

  /** A new release equal (code and config) to release `version`; 0 means the one before the current. */
  async rollback(name: string, version: number, requestId?: string): Promise<ReleaseRecord> {
    const change = rollbackChange(name, version, (target) => this.getRelease(name, target));
    return this.createRelease(name, change, tagOf(requestId, `rollback ${name}`));
  }

  /** The release the app's instances run, and the newest one (the same unless a release phase holds it back). */
  runningAndNewest(name: string, app: AppRecord): Promise<{ running?: ReleaseRecord; newest?: ReleaseRecord }> {
    return this.reads.runningAndNewest(name, app);
  }

  async getRelease(name: string, version: number): Promise<ReleaseRecord | undefined> {
    return this.reads.getRelease(name, version);
  }

  /** Every release of an app, newest first. */
  async listReleases(name: string): Promise<ReleaseRecord[]> {
    return this.releases.list(name);
  }

  /**
   * Sets the desired count of each named type, or (`relative`) adds to it: `worker+2` is applied
   * to the count read in the same revision-checked transaction, so two concurrent `worker+1`
   * give +2. Returns the whole formation.
   */
  async scale(name: string, changes: ScaleChange[], requestId?: string): Promise<Record<string, number>> {
    checkScaleChanges(changes, this.maxPerType);
    const next = await this.formations.update(name, async (formation, app) => {
      const releases = await this.reads.runningAndNewest(name, app);
      for (const { type } of changes) requireDeployedType(name, releases, type);
      const release = releaseWithCode(name, releases.running);
      return { ...formation, counts: applyScale(name, release, formation.counts, changes, this.maxPerType) };
    }, tagOf(requestId, `scale ${name}`));
    return next.counts;
  }

  /** Sets the stop grace period of process types (seconds; 0 returns a type to the agent's default). */
  async setGrace(name: string, changes: Array<{ type: string; seconds: number }>): Promise<Record<string, number>> {
    // The release phase has a grace period too (it is stopped like any instance).
    const next = await this.formations.updateTypeSettings(name, changes, { field: 'graceMs', releasePhase: true }, graceSettings(changes));
    return next.graceMs ?? {};
  }

  /**
   * Sets whether process types' output blocks (the default) or drops lines when the agent's disk
   * writer is behind (`ps:logs`). Returns every type's mode that is not the default. docs/logs.md.
   */
  async setLogMode(name: string, changes: Array<{ type: string; mode: string }>): Promise<Record<string, LogMode>> {
    const next = await this.formations.updateTypeSettings(name, changes, { field: 'logModes', releasePhase: false }, logModeSettings(changes));
    return next.logModes ?? {};
  }

  /**
   * Sets the boot timeout of process types (seconds; 0 removes a non-web type's port check and
   * returns web to the default). Returns every type's setting. docs/boot-checks.md.
   */
  async setBootTimeout(name: string, changes: Array<{ type: string; seconds: number }>): Promise<Record<string, number>> {
    const next = await this.formations.updateTypeSettings(name, changes, { field: 'bootTimeoutMs', releasePhase: false }, bootTimeoutSettings(changes));
    return next.bootTimeoutMs ?? {};
  }

  /**
   * Sets the placement rule of each named type (labels an agent must carry, a datacenter); a rule
   * with neither lets the type run anywhere again. Other types keep theirs. Returns every rule.
   */
  async setPlacement(name: string, rules: PlacementRule[]): Promise<Record<string, PlacementRecord>> {
    // A rule for the release command stays allowed, as it was when its release had one.
    const next = await this.formations.updateTypeSettings(name, rules, { field: 'placement', releasePhase: true }, placementSettings(rules));
    return next.placement ?? {};
  }

  /** The app's formation as stored now (not as a mirror last saw it). */
  async getFormation(name: string): Promise<FormationRecord> {
    return (await this.getAppAndFormation(name)).formation;
  }

  /** The app and its formation as stored now, read at once. */
  async getAppAndFormation(name: string): Promise<{ app: AppRecord; formation: FormationRecord }> {
    const [app, formation] = await Promise.all([this.reads.requireApp(name), this.reads.read<FormationRecord>(this.keys.formation(name))]);
    return { app: app.value, formation: formation.value ?? EMPTY_FORMATION };
  }

  /** The placement rules of an app's types. */
  async getPlacement(name: string): Promise<Record<string, PlacementRecord>> {
    await this.reads.requireApp(name);
    return (await this.reads.read<FormationRecord>(this.keys.formation(name))).value?.placement ?? {};
  }

  /**
   * Restarts the whole app (`target` empty), a type or one instance; returns the new token of
   * that target (the same on a retry of the request), which the restarted processes report.
   */
  async restart(name: string, target: string, requestId?: string): Promise<string> {
    const formation = await this.formations.update(name, async (formation, app) => {
      // Nothing deployed: nothing to restart, as `scale` and `run` say.
      if (target === '') releaseWithCode(name, (await this.reads.runningAndNewest(name, app)).newest);
      else {
        const releases = await this.reads.runningAndNewest(name, app);
        const release = releases.running;
        const instance = parseInstanceName(target);
        const type = instance?.type ?? target;
        if (isOneOffType(type)) throw notRestartable(name, target, instance !== undefined);
        requireDeployedType(name, releases, type);
        if (!Object.hasOwn(releaseWithCode(name, release).processTypes, type)) {
          throw new InvalidArgumentError(`\`${target}\` is not a process type or instance of \`${name}\` (${typesItHas(release!)})`);
        }
        const count = own(formation.counts, type) ?? 0;
        if (instance && instance.number > count) throw noSuchInstance(name, target, type, count);
      }
      const token = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
      return { ...formation, restartTokens: { ...formation.restartTokens, [target || '*']: token } };
    }, tagOf(requestId, `restart ${name} ${target || '*'}`));
    return formation.restartTokens[target || '*'] ?? '';
  }

  /** The release phase of release `version`, and the record's revision (for a compare). */
  async readReleaseForPhase(name: string, version: number): Promise<{ release: ReleaseRecord | undefined; modRevision: string }> {
    const { value, modRevision } = await this.reads.read<ReleaseRecord>(this.keys.release(name, version));
    return { release: value, modRevision };
  }
}

/**
 * `restart run.7` (or `run`, `release`): one-offs run once and are never restarted. Said as such:
 * "not a process type or instance" named something `ps` lists.
 */
function notRestartable(app: string, target: string, isInstance: boolean): InvalidArgumentError {
  return new InvalidArgumentError(
    isInstance
      ? `\`${target}\` is a one-off process: one-offs are never restarted; end it with \`cluster ps:stop ${target} -a ${app}\``
      : `\`${target}\` names one-off processes (\`cluster run\`, scheduled jobs, the release command), which are never restarted; \`cluster ps:stop ${target}.N -a ${app}\` ends one`,
  );
}
