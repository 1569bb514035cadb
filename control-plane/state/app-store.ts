/**
 * Writes the users' desired state: apps, releases, formations, restarts. Every
 * read-modify-write compares mod revisions and retries on a lost race, so two CLIs or
 * two replicas never lose each other's update.
 */
import type { Etcd3 } from 'etcd3';
import type { Keys } from '../keys';
import { commitIf, exists, unchangedSince, type WriteOp } from '../etcd/batch';
import { AlreadyExistsError, ConflictError, FailedPreconditionError, InvalidArgumentError, LimitExceededError, NotFoundError } from '../errors';
import { decode, encode, EMPTY_FORMATION, type AppRecord, type FormationRecord, type PlacementRecord, type ReleaseRecord } from '../records';
import { DEFAULT_MAX_PER_TYPE, MAX_GRACE_SECONDS, MAX_PER_TYPE_FLAG, releaseSizeProblem } from '../../lib/limits';
import { conflictPauseMs, pause } from '../../lib/retry-delay';
import { bootTimeoutProblem } from '../../lib/boot-timeout';
import { logModeProblem, type LogMode } from '../../lib/log-mode';
import { DEFAULT_RELEASE_TIMEOUT_SECONDS, RELEASE_PHASE_TYPE } from '../../lib/release-phase';
import { appNameProblem, configKeyProblem, datacenterProblem, labelProblem, parseInstanceName } from '../../lib/names';
import { RequestRecords, type RequestTag } from './request-records';

const RETRIES = 20;
/** Most labels one placement rule may require. */
export const MAX_RULE_LABELS = 20;

interface Versioned<T> {
  value: T | undefined;
  modRevision: string;
}

export interface NewRelease {
  slug: string;
  processTypes: Record<string, string>;
  description: string;
  /** Config for the release; the previous release's config when absent. */
  env?: Record<string, string>;
  /** Run its `release:` command before it rolls (not for rollbacks, as on Heroku), with this timeout. */
  releasePhase?: { timeoutMs: number };
}

/** One change of `scale`: a total (`worker=3`) or, relative, a difference (`worker+2`, `worker-1`). */
export interface ScaleChange {
  type: string;
  count: number;
  relative?: boolean;
}

/** A change as the user wrote it: `worker=3`, `worker+2`, `worker-1`. */
function describeChange({ type, count, relative }: ScaleChange): string {
  if (!relative) return `${type}=${count}`;
  return count < 0 ? `${type}${count}` : `${type}+${count}`;
}

/** Builds the next release from the current one (undefined before the first release). */
type ReleaseChange = (previous: ReleaseRecord | undefined) => NewRelease | Promise<NewRelease>;

/** What a release's request record keeps: the version it made (its config is read again, never copied). */
interface ReleaseResult {
  version: number;
  scaled: Record<string, number>;
}

/**
 * The methods that change state take an optional request id (lib/request-id.ts): the change is
 * recorded with it in the same transaction, and a call with an id already recorded answers the
 * recorded result without changing anything again (state/request-records.ts).
 */
export class AppStore {
  /** The records of requests' changes, shared by the other stores (one lease per replica). */
  readonly requests: RequestRecords;

  constructor(private readonly client: Etcd3, readonly keys: Keys, readonly maxPerType = DEFAULT_MAX_PER_TYPE) {
    this.requests = new RequestRecords(client, keys);
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
    await this.requireApp(name);
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
    return (await this.requireApp(name)).value;
  }

  /** Creates release vN+1 and makes it current, in one transaction. */
  async createRelease(name: string, input: NewRelease | ReleaseChange, request?: RequestTag): Promise<ReleaseRecord> {
    return (await this.commitRelease(name, input, false, request)).release;
  }

  /**
   * A release of newly deployed code. The first deploy of an app whose release has a `web` type
   * while its formation is empty also scales web=1 (as Heroku does), in the same transaction;
   * `scaled` says so.
   */
  async deploy(name: string, input: NewRelease): Promise<{ release: ReleaseRecord; scaled: Record<string, number> }> {
    return this.commitRelease(name, input, true);
  }

  private async commitRelease(
    name: string,
    input: NewRelease | ReleaseChange,
    firstDeployScalesWeb: boolean,
    request?: RequestTag,
  ): Promise<{ release: ReleaseRecord; scaled: Record<string, number> }> {
    for (let attempt = 0; attempt < RETRIES; attempt++) {
      const replayed = request && (await this.requests.recorded<ReleaseResult>(request));
      if (replayed) {
        const release = await this.getRelease(name, replayed.result.version);
        if (release) return { release, scaled: replayed.result.scaled };
      }
      const app = await this.requireApp(name);
      const previous = app.value.release > 0 ? await this.getRelease(name, app.value.release) : undefined;
      const next = typeof input === 'function' ? await input(previous) : input;
      const command = next.releasePhase ? own(next.processTypes, RELEASE_PHASE_TYPE) : undefined;
      const release: ReleaseRecord = {
        version: app.value.release + 1,
        description: next.description,
        createdAtMs: Date.now(),
        slug: next.slug,
        processTypes: next.processTypes,
        env: next.env ?? previous?.env ?? {},
        ...(command !== undefined && next.releasePhase ? { phase: { command, timeoutMs: next.releasePhase.timeoutMs, state: 'pending' as const } } : {}),
      };
      // The authority on sizes: a release that passes can be stored, sent and started (lib/limits.ts).
      const tooLarge = releaseSizeProblem(release.processTypes, release.env);
      if (tooLarge) throw new LimitExceededError(tooLarge);
      const compares = [unchangedSince(this.keys.app(name), app.modRevision)];
      const ops: WriteOp[] = [
        { put: this.keys.release(name, release.version), value: encode(release) },
        // With a release phase the instances stay on what they run until it passes (the leader moves `deployed`).
        { put: this.keys.app(name), value: encode({ ...app.value, release: release.version, deployed: release.phase ? deployedOf(app.value) : release.version }) },
      ];
      const scaled: Record<string, number> = {};
      if (firstDeployScalesWeb && !previous?.slug && Object.hasOwn(release.processTypes, 'web')) {
        const formation = await this.read<FormationRecord>(this.keys.formation(name));
        const counts = formation.value?.counts ?? {};
        if (Object.values(counts).every((count) => !count)) {
          scaled.web = 1;
          compares.push(unchangedSince(this.keys.formation(name), formation.modRevision));
          const value: FormationRecord = { ...(formation.value ?? EMPTY_FORMATION), counts: { ...counts, web: 1 } };
          ops.push({ put: this.keys.formation(name), value: encode(value) });
        }
      }
      if (await this.requests.commit(compares, ops, request, { version: release.version, scaled } satisfies ReleaseResult)) return { release, scaled };
      await pause(conflictPauseMs(attempt));
    }
    throw new ConflictError(`too many concurrent changes to app \`${name}\`; try again`);
  }

  /** The app's config vars (those of its current release). */
  async getConfig(name: string): Promise<Record<string, string>> {
    const app = await this.getApp(name);
    return app.release > 0 ? ((await this.getRelease(name, app.release))?.env ?? {}) : {};
  }

  /** Sets and unsets config vars in a new release (keys validated; values never described). */
  async setConfig(name: string, set: Record<string, string>, unset: string[], requestId?: string): Promise<ReleaseRecord> {
    for (const key of [...Object.keys(set), ...unset]) {
      const problem = configKeyProblem(key);
      if (problem) throw new InvalidArgumentError(problem);
    }
    for (const key of unset) {
      if (key in set) throw new InvalidArgumentError(`\`${key}\` is both set and unset`);
    }
    if (Object.keys(set).length + unset.length === 0) throw new InvalidArgumentError('nothing to change: give KEY=VALUE or KEY');
    return this.createRelease(name, (previous) => {
      const env = { ...(previous?.env ?? {}) };
      const missing = unset.filter((k) => !(k in env));
      if (missing.length > 0) throw new InvalidArgumentError(`not set: ${missing.join(', ')}`);
      for (const key of unset) delete env[key];
      Object.assign(env, set);
      const parts = [];
      if (Object.keys(set).length > 0) parts.push(`Set ${Object.keys(set).join(', ')}`);
      if (unset.length > 0) parts.push(`Unset ${unset.join(', ')}`);
      return {
        slug: previous?.slug ?? '',
        processTypes: previous?.processTypes ?? {},
        env,
        description: parts.join('; '),
        releasePhase: { timeoutMs: DEFAULT_RELEASE_TIMEOUT_SECONDS * 1000 },
      };
    }, tagOf(requestId, `config ${name}`));
  }

  /** A new release equal (code and config) to release `version`; 0 means the one before the current. */
  async rollback(name: string, version: number, requestId?: string): Promise<ReleaseRecord> {
    return this.createRelease(name, async (previous) => {
      const current = previous?.version ?? 0;
      const target = version > 0 ? version : current - 1;
      if (target <= 0) throw new InvalidArgumentError(`\`${name}\` has no earlier release to roll back to`);
      const release = await this.getRelease(name, target);
      if (!release) throw new NotFoundError(`release v${target} of \`${name}\` not found (see \`cluster releases -a ${name}\`)`);
      if (!release.slug) throw new InvalidArgumentError(`release v${target} of \`${name}\` has no code (it was made before the first deploy)`);
      return { slug: release.slug, processTypes: release.processTypes, env: release.env, description: `Rollback to v${target}` };
    }, tagOf(requestId, `rollback ${name}`));
  }

  async getRelease(name: string, version: number): Promise<ReleaseRecord | undefined> {
    return decode<ReleaseRecord>(await this.client.get(this.keys.release(name, version)).buffer());
  }

  /** Every release of an app, newest first. */
  async listReleases(name: string): Promise<ReleaseRecord[]> {
    await this.requireApp(name);
    const values = await this.client.getAll().prefix(this.keys.releases(name)).buffers();
    return Object.values(values)
      .map((raw) => decode<ReleaseRecord>(raw))
      .filter((r): r is ReleaseRecord => r !== undefined)
      .sort((a, b) => b.version - a.version);
  }

  /**
   * Sets the desired count of each named type, or (`relative`) adds to it: `worker+2` is applied
   * to the count read in the same revision-checked transaction, so two concurrent `worker+1`
   * give +2. Returns the whole formation.
   */
  async scale(name: string, changes: ScaleChange[], requestId?: string): Promise<Record<string, number>> {
    if (changes.length === 0) throw new InvalidArgumentError('nothing to scale: give TYPE=N');
    for (const { type, count, relative } of changes) {
      if (!Number.isInteger(count) || (!relative && count < 0)) {
        throw new InvalidArgumentError(`${describeChange({ type, count, relative })}: the count must be a whole number, 0 or more`);
      }
      // A relative change is checked against the count it is added to, below.
      if (!relative && count > this.maxPerType) throw this.overMaxPerType({ type, count }, count);
    }
    return this.updateFormation(name, async (formation, app) => {
      const release = app.release > 0 ? await this.getRelease(name, app.release) : undefined;
      if (!release || !release.slug) {
        throw new FailedPreconditionError(`app \`${name}\` has no code yet: deploy it first (cluster deploy -a ${name})`);
      }
      for (const { type } of changes) {
        if (type === RELEASE_PHASE_TYPE) {
          throw new InvalidArgumentError(`\`${RELEASE_PHASE_TYPE}\` is the release phase command: it runs once per release, before the rollout, and cannot be scaled`);
        }
        if (!Object.hasOwn(release.processTypes, type)) {
          const known = Object.keys(release.processTypes).join(', ');
          throw new InvalidArgumentError(`process type \`${type}\` is not in release v${release.version} of \`${name}\` (it has: ${known})`);
        }
      }
      const counts = { ...formation.counts };
      for (const change of changes) {
        const current = Object.hasOwn(counts, change.type) ? counts[change.type]! : 0;
        const next = change.relative ? current + change.count : change.count;
        if (next < 0) {
          throw new InvalidArgumentError(
            `${describeChange(change)}: \`${change.type}\` has ${current} instance${current === 1 ? '' : 's'}; it cannot go below 0`,
          );
        }
        if (next > this.maxPerType) throw this.overMaxPerType(change, next);
        counts[change.type] = next;
      }
      return { ...formation, counts };
    }, tagOf(requestId, `scale ${name}`)).then((f) => f.counts);
  }

  /**
   * Changes per-type settings of an app's formation in one revision-checked write, after checking
   * that every changed type is in the current release (the `release` phase only when allowed).
   */
  private updateTypeSettings(
    name: string,
    changes: ReadonlyArray<{ type: string }>,
    allow: { releasePhase: boolean },
    change: (formation: FormationRecord) => FormationRecord,
  ): Promise<FormationRecord> {
    return this.updateFormation(name, async (formation, app) => {
      const release = app.release > 0 ? await this.getRelease(name, app.release) : undefined;
      for (const { type } of changes) {
        if (!release || !Object.hasOwn(release.processTypes, type) || (type === RELEASE_PHASE_TYPE && !allow.releasePhase)) {
          throw new InvalidArgumentError(`process type \`${type}\` is not in the current release of \`${name}\``);
        }
      }
      return change(formation);
    });
  }

  /** Sets the stop grace period of process types (seconds; 0 returns a type to the agent's default). */
  async setGrace(name: string, changes: Array<{ type: string; seconds: number }>): Promise<Record<string, number>> {
    if (changes.length === 0) throw new InvalidArgumentError('nothing to set: give TYPE=SECONDS');
    for (const { type, seconds } of changes) {
      if (!Number.isFinite(seconds) || seconds < 0 || seconds > MAX_GRACE_SECONDS) {
        throw new InvalidArgumentError(`${type}=${seconds}: the grace period must be from 0 to ${MAX_GRACE_SECONDS} seconds`);
      }
    }
    // The release phase has a grace period too (it is stopped like any instance).
    const next = await this.updateTypeSettings(name, changes, { releasePhase: true }, (formation) => {
      const graceMs = { ...formation.graceMs };
      for (const { type, seconds } of changes) {
        if (seconds === 0) delete graceMs[type];
        else graceMs[type] = Math.round(seconds * 1000);
      }
      return { ...formation, graceMs };
    });
    return next.graceMs ?? {};
  }

  /**
   * Sets whether process types' output blocks (the default) or drops lines when the agent's disk
   * writer is behind (`ps:logs`). Returns every type's mode that is not the default. docs/logs.md.
   */
  async setLogMode(name: string, changes: Array<{ type: string; mode: string }>): Promise<Record<string, LogMode>> {
    if (changes.length === 0) throw new InvalidArgumentError('nothing to set: give TYPE=blocking or TYPE=non-blocking');
    for (const { type, mode } of changes) {
      const problem = logModeProblem(type, mode);
      if (problem) throw new InvalidArgumentError(problem);
    }
    const next = await this.updateTypeSettings(name, changes, { releasePhase: false }, (formation) => {
      const logModes = { ...formation.logModes };
      for (const { type, mode } of changes) {
        if (mode === 'non-blocking') logModes[type] = 'non-blocking';
        else delete logModes[type];
      }
      return { ...formation, logModes };
    });
    return next.logModes ?? {};
  }

  /**
   * Sets the boot timeout of process types (seconds; 0 removes a non-web type's port check and
   * returns web to the default). Returns every type's setting. docs/boot-checks.md.
   */
  async setBootTimeout(name: string, changes: Array<{ type: string; seconds: number }>): Promise<Record<string, number>> {
    if (changes.length === 0) throw new InvalidArgumentError('nothing to set: give TYPE=SECONDS');
    for (const { type, seconds } of changes) {
      const problem = bootTimeoutProblem(type, seconds);
      if (problem) throw new InvalidArgumentError(problem);
    }
    const next = await this.updateTypeSettings(name, changes, { releasePhase: false }, (formation) => {
      const bootTimeoutMs = { ...formation.bootTimeoutMs };
      for (const { type, seconds } of changes) {
        if (seconds === 0) delete bootTimeoutMs[type];
        else bootTimeoutMs[type] = seconds * 1000;
      }
      return { ...formation, bootTimeoutMs };
    });
    return next.bootTimeoutMs ?? {};
  }

  /**
   * Sets the placement rule of each named type (labels an agent must carry, a datacenter); a rule
   * with neither lets the type run anywhere again. Other types keep theirs. Returns every rule.
   */
  async setPlacement(
    name: string,
    rules: Array<{ type: string; labels: Record<string, string>; datacenter?: string }>,
  ): Promise<Record<string, PlacementRecord>> {
    if (rules.length === 0) throw new InvalidArgumentError('nothing to set: give a process type and its rule');
    const seen = new Set<string>();
    for (const { type, labels, datacenter } of rules) {
      if (seen.has(type)) throw new InvalidArgumentError(`process type \`${type}\` is given twice`);
      seen.add(type);
      const entries = Object.entries(labels ?? {});
      if (entries.length > MAX_RULE_LABELS) {
        throw new LimitExceededError(`the rule of \`${type}\` has ${entries.length} labels; at most ${MAX_RULE_LABELS} are allowed`);
      }
      for (const [key, value] of entries) {
        const problem = labelProblem(key, value);
        if (problem) throw new InvalidArgumentError(problem);
      }
      const problem = datacenter ? datacenterProblem(datacenter) : undefined;
      if (problem) throw new InvalidArgumentError(problem);
    }
    const next = await this.updateFormation(name, async (formation, app) => {
      const release = app.release > 0 ? await this.getRelease(name, app.release) : undefined;
      if (!release || !release.slug) {
        throw new FailedPreconditionError(`app \`${name}\` has no code yet: deploy it first (cluster deploy -a ${name})`);
      }
      for (const { type } of rules) {
        if (!Object.hasOwn(release.processTypes, type)) {
          const known = Object.keys(release.processTypes).join(', ');
          throw new InvalidArgumentError(`process type \`${type}\` is not in release v${release.version} of \`${name}\` (it has: ${known})`);
        }
      }
      const placement = { ...formation.placement };
      for (const { type, labels, datacenter } of rules) {
        const rule: PlacementRecord = { labels: { ...labels }, ...(datacenter ? { datacenter } : {}) };
        if (Object.keys(rule.labels).length === 0 && !rule.datacenter) delete placement[type];
        else placement[type] = rule;
      }
      return { ...formation, placement };
    });
    return next.placement ?? {};
  }

  /** The app's formation as stored now (not as a mirror last saw it). */
  async getFormation(name: string): Promise<FormationRecord> {
    await this.requireApp(name);
    return (await this.read<FormationRecord>(this.keys.formation(name))).value ?? EMPTY_FORMATION;
  }

  /** The placement rules of an app's types. */
  async getPlacement(name: string): Promise<Record<string, PlacementRecord>> {
    await this.requireApp(name);
    return (await this.read<FormationRecord>(this.keys.formation(name))).value?.placement ?? {};
  }

  /** Restarts the whole app (`target` empty), a type or one instance; returns the token key used. */
  async restart(name: string, target: string, requestId?: string): Promise<void> {
    await this.updateFormation(name, async (formation, app) => {
      const release = app.release > 0 ? await this.getRelease(name, app.release) : undefined;
      if (target !== '') {
        const type = parseInstanceName(target)?.type ?? target;
        if (!release || !(type in release.processTypes)) {
          throw new InvalidArgumentError(`\`${target}\` is not a process type or instance of \`${name}\``);
        }
      }
      const token = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
      return { ...formation, restartTokens: { ...formation.restartTokens, [target || '*']: token } };
    }, tagOf(requestId, `restart ${name} ${target || '*'}`));
  }

  /** The release phase of release `version`, and the record's revision (for a compare). */
  async readReleaseForPhase(name: string, version: number): Promise<{ release: ReleaseRecord | undefined; modRevision: string }> {
    const { value, modRevision } = await this.read<ReleaseRecord>(this.keys.release(name, version));
    return { release: value, modRevision };
  }

  private async updateFormation(
    name: string,
    change: (formation: FormationRecord, app: AppRecord) => Promise<FormationRecord>,
    request?: RequestTag,
  ): Promise<FormationRecord> {
    for (let attempt = 0; attempt < RETRIES; attempt++) {
      const replayed = request && (await this.requests.recorded<FormationRecord>(request));
      if (replayed) return replayed.result;
      const app = await this.requireApp(name);
      const current = await this.read<FormationRecord>(this.keys.formation(name));
      const next = await change(current.value ?? EMPTY_FORMATION, app.value);
      const ok = await this.requests.commit(
        [unchangedSince(this.keys.app(name), app.modRevision), unchangedSince(this.keys.formation(name), current.modRevision)],
        [{ put: this.keys.formation(name), value: encode(next) }],
        request,
        next,
      );
      if (ok) return next;
      // Lost a race with another writer: re-read and apply our change on top of theirs.
      await pause(conflictPauseMs(attempt));
    }
    throw new ConflictError(`too many concurrent changes to app \`${name}\`; try again`);
  }

  /** The refusal of a count over --max-per-type, naming the limit and the flag that sets it. */
  private overMaxPerType(change: ScaleChange, count: number): LimitExceededError {
    const over = change.relative ? `\`${change.type}\` would have ${count} instances` : `${count} instances of \`${change.type}\``;
    return new LimitExceededError(
      `${describeChange(change)}: ${over}; this control plane allows at most ${this.maxPerType} per process type (its ${MAX_PER_TYPE_FLAG}, default ${DEFAULT_MAX_PER_TYPE})`,
    );
  }

  private async requireApp(name: string): Promise<{ value: AppRecord; modRevision: string }> {
    const problem = appNameProblem(name);
    if (problem) throw new InvalidArgumentError(problem);
    const app = await this.read<AppRecord>(this.keys.app(name));
    if (!app.value) throw new NotFoundError(`app \`${name}\` not found: create it with \`cluster apps:create ${name}\``);
    return { value: app.value, modRevision: app.modRevision };
  }

  private async read<T extends object>(key: string): Promise<Versioned<T>> {
    const res = await this.client.kv.range({ key: Buffer.from(key) });
    const kv = res.kvs[0];
    return { value: kv ? decode<T>(kv.value) : undefined, modRevision: kv ? kv.mod_revision : '0' };
  }
}

/** The release an app's instances run (docs/boot-checks.md#release-phase). */
export function deployedOf(app: AppRecord): number {
  return app.deployed ?? app.release;
}

/** The record identity of a request (none without an id). */
function tagOf(id: string | undefined, kind: string): RequestTag | undefined {
  return id ? { id, kind } : undefined;
}

function own(record: Record<string, string>, key: string): string | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}
