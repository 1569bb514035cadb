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
import { requireSettableType } from './release-types';
import type { TypeSettingField } from './formation-settings';
import { own } from '../../lib/own';
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
   * Changes per-type settings (`field` of the formation) after checking that every changed type
   * may be set (release-types.ts: requireSettableType), the `release` phase only when allowed.
   */
  updateTypeSettings(
    name: string,
    changes: ReadonlyArray<{ type: string }>,
    setting: { field: TypeSettingField; releasePhase: boolean },
    change: (formation: FormationRecord) => FormationRecord,
  ): Promise<FormationRecord> {
    return this.update(name, async (formation, app) => {
      const newest = await this.reads.currentRelease(name, app);
      const next = change(formation);
      const has = (f: FormationRecord, type: string) => own<unknown>(f[setting.field] as Record<string, unknown> | undefined, type) !== undefined;
      for (const { type } of changes) {
        const clears = has(formation, type) && !has(next, type);
        requireSettableType(name, newest, type, clears);
        if (type === RELEASE_PHASE_TYPE && !setting.releasePhase) {
          throw new InvalidArgumentError(`\`${type}\` is the release command of \`${name}\`, not a process type: this setting does not apply to it`);
        }
      }
      return next;
    });
  }
}
