/**
 * The replica addresses an agent learned, kept in its data dir (`replicas.json`) so that
 * a restarted agent can reach the cluster even when every address it was given is gone.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { serverEntryProblem } from '../../lib/server-list';

export interface RememberedReplicas {
  clusterId: string;
  servers: string[];
}

function file(dataDir: string): string {
  return path.join(dataDir, 'replicas.json');
}

/** What was saved; nothing (not an error) when the file is missing or unreadable. */
export function loadReplicas(dataDir: string): RememberedReplicas | undefined {
  try {
    const v = JSON.parse(fs.readFileSync(file(dataDir), 'utf8')) as Partial<RememberedReplicas>;
    const servers = Array.isArray(v.servers) ? v.servers.filter((s): s is string => typeof s === 'string' && !serverEntryProblem(s)) : [];
    return { clusterId: typeof v.clusterId === 'string' ? v.clusterId : '', servers };
  } catch {
    return undefined;
  }
}

export function saveReplicas(dataDir: string, remembered: RememberedReplicas): void {
  const tmp = `${file(dataDir)}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(remembered), { mode: 0o600 });
  fs.renameSync(tmp, file(dataDir));
}

/** Forgets what was remembered (a new join). */
export function forgetReplicas(dataDir: string): void {
  fs.rmSync(file(dataDir), { force: true });
}
