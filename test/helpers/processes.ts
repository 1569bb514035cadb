/** Test helpers for tests that spawn real processes. */
import { readFileSync } from 'node:fs';
import path from 'node:path';

/** Absolute path of a fixture script in test/fixtures (tests run from dist/test/...). */
export function fixture(name: string): string {
  return path.resolve(__dirname, '../../../test/fixtures', name);
}

/**
 * Whether process `pid` is gone. A zombie counts as gone: once killed, an orphan is
 * reaped by whatever PID 1 the machine has, which may take its time or never happen.
 */
export function isGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true; // vanished between the two checks
  }
}

/** Kills a pid (or a process group with a negative number) and ignores errors; for test cleanup. */
export function killQuietly(pid: number): void {
  if (pid === 0 || pid === -1 || pid === 1) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}
