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

/**
 * Whether the id of a group whose leader started at `leaderStartTicks` (undefined: no leader was
 * left) now names a process that started at another time: the group ended and the kernel gave
 * its id out again (pid wrap-around), to a process that may lead a group of its own, someone
 * else's. A group keeps its id while any member lives, leader or not.
 */
export function groupIdReused(pgid: number, leaderStartTicks: number | undefined): boolean {
  const now = procStat(pgid);
  return now !== undefined && now.startTicks !== leaderStartTicks;
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
 * Groups with a member that is not a zombie, from one scan of /proc shared by every caller for
 * `ttlMs`: an orphan that exited stays a zombie until PID 1 reaps it, which some inits do lazily
 * (or never), and it is gone for us. A scan reads every process's stat (tens of ms with a few
 * hundred processes), so a host stopping many instances whose pipes are closed scans once a
 * second between them all, not once per instance every poll. A group seen live may be zombies
 * only by the next scan, a second later at most; "no live member" is trusted only from a scan
 * taken after the group existed (`since`), so a group newer than the last scan is scanned for.
 */
export class LiveGroups {
  private groups: Set<number> | undefined;
  private scannedAt = -Infinity;

  constructor(
    private readonly scan: () => Set<number> | undefined = scanLiveGroups,
    private readonly ttlMs = 1_000,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /**
   * Whether group `pgid`, which existed at `since` (this clock), has a member that is not a
   * zombie; without /proc any member counts as alive.
   */
  has(pgid: number, since: number): boolean {
    if (!groupExists(pgid)) return false;
    const stale = this.now() - this.scannedAt >= this.ttlMs;
    if (stale || (this.scannedAt < since && this.groups?.has(pgid) === false)) {
      this.scannedAt = this.now();
      this.groups = this.scan();
    }
    return this.groups === undefined || this.groups.has(pgid);
  }
}

/** The groups of every process that is not a zombie; undefined without /proc. */
function scanLiveGroups(): Set<number> | undefined {
  const pids = allPids();
  if (pids === undefined) return undefined;
  const groups = new Set<number>();
  for (const pid of pids) {
    const stat = procStat(pid); // undefined: exited meanwhile
    if (stat !== undefined && stat.state !== 'Z') groups.add(stat.pgid);
  }
  return groups;
}

const liveGroups = new LiveGroups();

/**
 * Whether group `pgid`, which existed at `since` (performance.now()), has a member that is not
 * a zombie (LiveGroups, one scan a second shared by the agent).
 */
export function groupHasLiveMembers(pgid: number, since: number): boolean {
  return liveGroups.has(pgid, since);
}

export function errorCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}
