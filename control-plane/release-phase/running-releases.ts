/**
 * Every release whose release command is claimed and not settled (phase `running`), whatever its
 * app's newest release: what a new leader must follow after a failover (release-phase-loop.ts).
 */
import type { Etcd3 } from 'etcd3';
import { readPrefix } from '../etcd/batch';
import type { Keys } from '../keys';
import { decode, type ReleaseRecord } from '../records';

const RUNNING = Buffer.from('"running"');

export interface ReleaseRef {
  app: string;
  version: number;
}

export async function runningReleases(client: Etcd3, keys: Keys): Promise<ReleaseRef[]> {
  const out: ReleaseRef[] = [];
  for (const [key, { value }] of await readPrefix(client, keys.allReleases())) {
    if (!value.includes(RUNNING)) continue; // most releases settled long ago: not parsed
    const app = keys.parseReleaseApp(key);
    const release = decode<ReleaseRecord>(value);
    if (app && release?.phase?.state === 'running' && Number.isInteger(release.version)) out.push({ app, version: release.version });
  }
  return out;
}
