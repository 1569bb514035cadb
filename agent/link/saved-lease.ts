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
  try {
    fs.writeFileSync(leaseFile(dataDir), JSON.stringify({ leaseId }), { mode: 0o600 });
  } catch (err) {
    logger.warn({ err }, 'could not save the lease id; a restart will wait for the old lease to expire');
  }
}
