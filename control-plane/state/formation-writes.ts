/**
 * Changes an app's formation (counts, restart tokens, per-type settings) in one revision-checked
 * write against both the app and the formation, re-reading and re-applying the change after a
 * lost race, with the request's record in the same transaction. app-store.ts is the callers' entry.
 */
import { unchangedSince } from '../etcd/batch';
import { InvalidArgumentError } from '../errors';
import { encode, EMPTY_FORMATION, type AppRecord, type FormationRecord } from '../records';
import { conflictPauseMs, pause } from '../../lib/retry-delay';
import { RELEASE_PHASE_TYPE } from '../../lib/release-phase';
import { RETRIES, tooManyChanges, type AppReads } from './app-reads';
import { releaseWithCode, requireTypeInRelease } from './release-types';
import type { RequestRecords, RequestTag } from './request-records';

export class FormationWrites {
  constructor(
    private readonly reads: AppReads,
    private readonly requests: RequestRecords,
  ) {}

  /** Applies `change` to the formation read now; a request already recorded answers its result. */
  async update(
    name: string,
    change: (formation: FormationRecord, app: AppRecord) => Promise<FormationRecord>,
    request?: RequestTag,
  ): Promise<FormationRecord> {
    const { keys } = this.reads;
    for (let attempt = 0; attempt < RETRIES; attempt++) {
      const replayed = request && (await this.requests.recorded<FormationRecord>(request));
      if (replayed) return replayed.result;
      const app = await this.reads.requireApp(name);
      const current = await this.reads.read<FormationRecord>(keys.formation(name));
      const next = await change(current.value ?? EMPTY_FORMATION, app.value);
      const ok = await this.requests.commit(
        [unchangedSince(keys.app(name), app.modRevision), unchangedSince(keys.formation(name), current.modRevision)],
        [{ put: keys.formation(name), value: encode(next) }],
        request,
        next,
      );
      if (ok) return next;
      // Lost a race with another writer: re-read and apply our change on top of theirs.
      await pause(conflictPauseMs(attempt));
    }
    throw tooManyChanges(name);
  }

  /**
   * Changes per-type settings after checking that every changed type is in the current release
   * (the `release` phase only when allowed).
   */
  updateTypeSettings(
    name: string,
    changes: ReadonlyArray<{ type: string }>,
    allow: { releasePhase: boolean },
    change: (formation: FormationRecord) => FormationRecord,
  ): Promise<FormationRecord> {
    return this.update(name, async (formation, app) => {
      const release = releaseWithCode(name, await this.reads.currentRelease(name, app));
      for (const { type } of changes) {
        requireTypeInRelease(name, release, type);
        if (type === RELEASE_PHASE_TYPE && !allow.releasePhase) {
          throw new InvalidArgumentError(`\`${type}\` is the release command of \`${name}\`, not a process type: this setting does not apply to it`);
        }
      }
      return change(formation);
    });
  }
}
