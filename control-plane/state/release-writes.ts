/**
 * Makes release vN+1 current in one revision-checked transaction (with the request's record, and
 * on an app's first deploy its web=1), retrying on a lost race. app-store.ts is the callers' entry.
 */
import type { Etcd3 } from 'etcd3';
import { unchangedSince, type WriteOp } from '../etcd/batch';
import { LimitExceededError } from '../errors';
import { decode, encode, EMPTY_FORMATION, type AppRecord, type FormationRecord, type ReleaseRecord } from '../records';
import { releaseSizeProblem } from '../../lib/limits';
import { conflictPauseMs, pause } from '../../lib/retry-delay';
import { RELEASE_PHASE_TYPE } from '../../lib/release-phase';
import { own } from '../../lib/own';
import { deployedOf, RETRIES, tooManyChanges, type AppReads } from './app-reads';

export { deployedOf };
import type { RequestRecords, RequestTag } from './request-records';

export interface NewRelease {
  slug: string;
  processTypes: Record<string, string>;
  description: string;
  /** Config for the release; the previous release's config when absent. */
  env?: Record<string, string>;
  /** Run its `release:` command before it rolls (not for rollbacks, as on Heroku), with this timeout. */
  releasePhase?: { timeoutMs: number };
}

/** Builds the next release from the current one (undefined before the first release). */
export type ReleaseChange = (previous: ReleaseRecord | undefined) => NewRelease | Promise<NewRelease>;

/** What a release's request record keeps: the version it made (its config is read again, never copied). */
interface ReleaseResult {
  version: number;
  scaled: Record<string, number>;
}

export class ReleaseWrites {
  constructor(
    private readonly client: Etcd3,
    private readonly reads: AppReads,
    private readonly requests: RequestRecords,
  ) {}

  /**
   * Creates release vN+1 and makes it current. With `firstDeploy`, the first deploy of an app
   * while its formation is empty also sets the formation, in the same transaction: its `counts`,
   * else web=1 when the release has a `web` type (as Heroku does); `scaled` says what it set. A
   * request already recorded answers its result.
   */
  async commit(
    name: string,
    input: NewRelease | ReleaseChange,
    firstDeploy: { counts?: Record<string, number> } | undefined,
    request?: RequestTag,
  ): Promise<{ release: ReleaseRecord; scaled: Record<string, number> }> {
    const { keys } = this.reads;
    for (let attempt = 0; attempt < RETRIES; attempt++) {
      const replayed = request && (await this.requests.recorded<ReleaseResult>(request));
      if (replayed) {
        const release = await this.reads.getRelease(name, replayed.result.version);
        if (release) return { release, scaled: replayed.result.scaled };
      }
      const app = await this.reads.requireApp(name);
      const read = app.value.release > 0 ? await this.reads.read<ReleaseRecord>(keys.release(name, app.value.release)) : undefined;
      const previous = read?.value;
      const next = typeof input === 'function' ? await input(previous) : input;
      const release = nextRelease(app.value, previous, next);
      // The authority on sizes: a release that passes can be stored, sent and started (lib/limits.ts).
      const tooLarge = releaseSizeProblem(release.processTypes, release.env);
      if (tooLarge) throw new LimitExceededError(tooLarge);
      const compares = [unchangedSince(keys.app(name), app.modRevision)];
      const ops: WriteOp[] = [
        { put: keys.release(name, release.version), value: encode(release) },
        // With a release phase the instances stay on what they run until it passes (the leader moves `deployed`).
        { put: keys.app(name), value: encode({ ...app.value, release: release.version, deployed: release.phase ? deployedOf(app.value) : release.version }) },
      ];
      if (previous?.phase?.state === 'pending') {
        // Its command never ran and never will (the leader claims only the newest release's), so it
        // would show `pending` for ever. Compared: a leader that claimed it meanwhile wins, and
        // then settles it itself (release-phase-loop.ts).
        compares.push(unchangedSince(keys.release(name, previous.version), read!.modRevision));
        const phase = { ...previous.phase, state: 'superseded' as const, finishedAtMs: Date.now(), reason: `v${release.version} was made before its command ran; nothing rolled` };
        ops.push({ put: keys.release(name, previous.version), value: encode({ ...previous, phase }) });
      }
      const scaled: Record<string, number> = {};
      const first = firstDeploy && !previous?.slug ? firstDeploy.counts ?? (Object.hasOwn(release.processTypes, 'web') ? { web: 1 } : {}) : {};
      if (Object.keys(first).length > 0) {
        const formation = await this.reads.read<FormationRecord>(keys.formation(name));
        const counts = formation.value?.counts ?? {};
        if (Object.values(counts).every((count) => !count)) {
          // defineProperty: a type may be called `__proto__`.
          for (const [type, count] of Object.entries(first)) if (count > 0) Object.defineProperty(scaled, type, { value: count, enumerable: true });
          compares.push(unchangedSince(keys.formation(name), formation.modRevision));
          const value: FormationRecord = { ...(formation.value ?? EMPTY_FORMATION), counts: { ...counts, ...first } };
          ops.push({ put: keys.formation(name), value: encode(value) });
        }
      }
      if (await this.requests.commit(compares, ops, request, { version: release.version, scaled } satisfies ReleaseResult)) return { release, scaled };
      await pause(conflictPauseMs(attempt));
    }
    throw tooManyChanges(name);
  }

  /** Every release of an app, newest first. */
  async list(name: string): Promise<ReleaseRecord[]> {
    await this.reads.requireApp(name);
    const values = await this.client.getAll().prefix(this.reads.keys.releases(name)).buffers();
    return Object.values(values)
      .map((raw) => decode<ReleaseRecord>(raw))
      .filter((r): r is ReleaseRecord => r !== undefined)
      .sort((a, b) => b.version - a.version);
  }
}

/** The record of release vN+1 as `next` describes it (config inherited when it gives none). */
function nextRelease(app: AppRecord, previous: ReleaseRecord | undefined, next: NewRelease): ReleaseRecord {
  const command = next.releasePhase ? own(next.processTypes, RELEASE_PHASE_TYPE) : undefined;
  return {
    version: app.release + 1,
    description: next.description,
    createdAtMs: Date.now(),
    slug: next.slug,
    processTypes: next.processTypes,
    env: next.env ?? previous?.env ?? {},
    ...(command !== undefined && next.releasePhase ? { phase: { command, timeoutMs: next.releasePhase.timeoutMs, state: 'pending' as const } } : {}),
  };
}
