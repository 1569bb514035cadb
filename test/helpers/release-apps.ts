/** What the release-phase tests share: an app with a `web` and a `release:` command, and their rows. */
import * as path from 'node:path';
import { REPO, type PsInstance } from './test-cluster';

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
