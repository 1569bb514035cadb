/** Process groups: an instance and everything it forks, signalled and looked for as one. */
import { allPids, procStat } from './proc-stat';

/** Sends `signal` to process group `pgid`; a group that no longer exists is not an error. */
export function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  // kill(-0) or kill(-1) would signal the agent's own group or every process we may signal.
  if (!Number.isInteger(pgid) || pgid <= 1) return;
  try {
    process.kill(-pgid, signal);
  } catch (err) {
    // ESRCH: already gone. EPERM: nothing left that we own. Either way nothing more to do.
    if (errorCode(err) !== 'ESRCH' && errorCode(err) !== 'EPERM') throw err;
  }
}

/** Whether any process of group `pgid` still exists (zombies included). */
export function groupExists(pgid: number): boolean {
  if (!Number.isInteger(pgid) || pgid <= 1) return false;
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    return errorCode(err) === 'EPERM';
  }
}

/**
 * Whether group `pgid` has a member that is not a zombie. An orphan that exited stays a
 * zombie until PID 1 reaps it, which some inits do lazily (or never); it is gone for us.
 * Scans /proc, so call it rarely; without /proc any member counts as alive.
 */
export function groupHasLiveMembers(pgid: number): boolean {
  if (!groupExists(pgid)) return false;
  const pids = allPids();
  if (pids === undefined) return true;
  return pids.some((pid) => {
    const stat = procStat(pid); // undefined: exited meanwhile
    return stat !== undefined && stat.pgid === pgid && stat.state !== 'Z';
  });
}


export function errorCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}
