/**
 * The release phase's reads and its small writes besides the outcome (release-phase-loop.ts):
 * the mark that a command started, and the supersede of one that never did. Each write is fenced
 * by leadership and checked against the release record's revision.
 */
import type { Etcd3 } from 'etcd3';
import { releaseRunName } from '../../lib/release-phase';
import { commitIf, unchangedSince } from '../etcd/batch';
import type { Keys } from '../keys';
import type { LeaderElection } from '../leader/election';
import { decode, encode, type AppRecord, type ReleasePhaseRecord, type ReleaseRecord } from '../records';

export interface PhaseWritesDeps {
  client: Etcd3;
  keys: Keys;
  election: LeaderElection;
}

/** Whether `markStarted` recorded the start, or found a newer release made before it could. */
export type StartMark = 'marked' | 'superseded' | 'other';

/**
 * One claim of a release command: its run id, or (claimed by a leader of an older version, which
 * chose none) the time of the claim. An app destroyed and created again claims its release.N anew.
 */
export function claimKey(app: string, version: number, phase: ReleasePhaseRecord): string {
  return `${app}/${releaseRunName(version)}/${phase.runId ?? `claimed-at-${phase.startedAtMs ?? 0}`}`;
}

/** Whether `release` is still the unsettled claim `key`. */
function isClaim(app: string, release: ReleaseRecord | undefined, key: string): release is ReleaseRecord & { phase: ReleasePhaseRecord } {
  return release?.phase?.state === 'running' && claimKey(app, release.version, release.phase) === key;
}

export class PhaseWrites {
  constructor(private readonly deps: PhaseWritesDeps) {}

  async readRelease(app: string, version: number): Promise<{ release: ReleaseRecord | undefined; modRevision: string }> {
    const res = await this.deps.client.kv.range({ key: Buffer.from(this.deps.keys.release(app, version)) });
    const kv = res.kvs[0];
    return { release: decode<ReleaseRecord>(kv?.value), modRevision: kv?.mod_revision ?? '0' };
  }

  async readApp(app: string): Promise<{ record: AppRecord; modRevision: string } | undefined> {
    const res = await this.deps.client.kv.range({ key: Buffer.from(this.deps.keys.app(app)) });
    const kv = res.kvs[0];
    const record = decode<AppRecord>(kv?.value);
    return kv && record ? { record, modRevision: kv.mod_revision } : undefined;
  }

  /**
   * Records in the phase that its command started, so that no leader ever starts it again —
   * unless a newer release was made before: compared with the app record, so that a release made
   * at the same moment is seen. `superseded`: the caller stops the run.
   */
  async markStarted(app: string, version: number, key: string, active: () => boolean): Promise<StartMark> {
    for (let attempt = 0; attempt < 3 && active(); attempt++) {
      const { release, modRevision } = await this.readRelease(app, version);
      if (!isClaim(app, release, key)) return 'other';
      if (release.phase.started) return 'marked';
      const current = await this.readApp(app);
      if (!current) return 'other';
      if (current.record.release > version) return 'superseded';
      const compares = [this.deps.election.fence(), unchangedSince(this.deps.keys.release(app, version), modRevision), unchangedSince(this.deps.keys.app(app), current.modRevision)];
      const ops = [{ put: this.deps.keys.release(app, version), value: encode({ ...release, phase: { ...release.phase, started: true } }) }];
      if (await commitIf(this.deps.client, compares, ops)) return 'marked';
    }
    return 'other';
  }

  /**
   * Marks the claim `key`, whose command is not recorded as started, superseded by the app's
   * newest release (`stopped`: its agent had it and stopped it; otherwise the agent did not run it
   * then, which says nothing of whether it ran before). Returns the phase written, or
   * undefined when there was nothing to write (settled meanwhile, started, no newer release).
   */
  async supersedeUnstarted(app: string, version: number, key: string, stopped: boolean, active: () => boolean): Promise<ReleasePhaseRecord | undefined> {
    for (let attempt = 0; attempt < 10 && active(); attempt++) {
      const { release, modRevision } = await this.readRelease(app, version);
      if (!isClaim(app, release, key) || release.phase.started) return undefined;
      const newest = (await this.readApp(app))?.record.release ?? 0;
      if (newest <= version) return undefined;
      const phase: ReleasePhaseRecord = {
        ...release.phase,
        state: 'superseded',
        finishedAtMs: Date.now(),
        // Only what is known: the start was not recorded, and the agent ran it then or not. Not
        // running does not mean it never ran: it may have run and ended before the stop came.
        reason: stopped
          ? `v${newest} was made before its command was known to have started; it was stopped and nothing rolled`
          : `v${newest} was made before its command was known to have started, and its agent was not running it; nothing rolled`,
      };
      // A release made since stays newer: only the release record is compared.
      const compares = [this.deps.election.fence(), unchangedSince(this.deps.keys.release(app, version), modRevision)];
      if (await commitIf(this.deps.client, compares, [{ put: this.deps.keys.release(app, version), value: encode({ ...release, phase }) }])) return phase;
    }
    return undefined;
  }
}
