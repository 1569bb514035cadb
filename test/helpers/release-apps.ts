/** What the release-phase tests share: an app with a `web` and a `release:` command, and their rows. */
import * as path from 'node:path';
import type { Etcd3 } from 'etcd3';
import { Keys } from '../../control-plane/keys';
import { REPO, type PsInstance } from './test-cluster';
import { waitFor } from './wait-for';

/** A `ps --json` row with the release it runs. */
export type PsWithRelease = PsInstance & { release: number | null };

/** A `releases --json` row. */
export interface ReleaseRow { version: number; phase: string | null; phaseReason: string | null; deployed: boolean }

/** A release command that says what it does, waits for its gate file (when given), exits with the given status. */
export const RELEASE_SH = `echo "migrating to $CLUSTER_RELEASE"
while [ -n "$1" ] && [ ! -e "$1" ]; do sleep 0.1; done
exit "\${2:-0}"
`;

/** A `web` that listens on $PORT. */
export const WEB = `exec node ${path.join(REPO, 'test', 'fixtures', 'listen.js')}`;

/** A release's phase as the control plane stores it: `releases` does not show whether the agent said it started the command. */
export interface StoredPhase { state: string; started?: boolean }

/** The stored phase of `app`'s v`version` (undefined: none, or no such release). */
export async function storedPhase(etcd: Etcd3, app: string, version: number): Promise<StoredPhase | undefined> {
  const value = await etcd.get(new Keys().release(app, version)).string();
  return value ? (JSON.parse(value) as { phase?: StoredPhase }).phase : undefined;
}

/**
 * Waits until v`version`'s command is recorded as started. A release shows `running` once a
 * leader claimed it; until its start is recorded, a newer release stops the command instead of
 * letting it finish (control-plane/release-phase), so a test of the later case waits for this.
 */
export async function startRecorded(etcd: Etcd3, app: string, version: number): Promise<void> {
  await waitFor(`v${version}'s command recorded as started`, async () => (await storedPhase(etcd, app, version))?.started === true || undefined, 30_000);
}
