/**
 * The agent's lease id kept in its data dir (`lease.json`): a next run registers with it and keeps
 * the lease while it lives, so its statuses and instances stay where they are.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Logger } from '../../lib/log';

function leaseFile(dataDir: string): string {
  return path.join(dataDir, 'lease.json');
}

/** The lease id an earlier run saved; '' when there is none. */
export function readSavedLease(dataDir: string): string {
  try {
    const saved = JSON.parse(fs.readFileSync(leaseFile(dataDir), 'utf8')) as { leaseId?: unknown };
    return typeof saved.leaseId === 'string' ? saved.leaseId : '';
  } catch {
    return '';
  }
}

export function saveLease(dataDir: string, leaseId: string, logger: Logger): void {
  // Written aside, then renamed over: a full disk leaves the lease saved before, not an empty file
  // (a next run without its lease waits for the old one to run out, and is refused meanwhile
  // when it comes back at another address: agent-service.ts refuseIdHeldElsewhere).
  const aside = `${leaseFile(dataDir)}.new`;
  try {
    fs.writeFileSync(aside, JSON.stringify({ leaseId }), { mode: 0o600 });
    fs.renameSync(aside, leaseFile(dataDir));
  } catch (err) {
    fs.rmSync(aside, { force: true });
    logger.warn({ err }, 'could not save the lease id; a restart will wait for the old lease to expire');
  }
}
