/** Test helpers for tests that spawn real processes. */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { groupIdReused } from '../../agent/supervisor/process-group';
import { procStat } from '../../agent/supervisor/proc-stat';
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

/**
 * Process groups a test file started, killed when it ends: each only while its id is still
 * theirs. By then a group that has ended may have had its id given to a process of another test
 * running beside it (pid wrap-around, or a test handing ids out again on purpose), which a plain
 * kill(-pid) would kill. A group whose leader has exited keeps its id while any member lives.
 */
export class GroupsToKill {
  private readonly groups = new Map<number, number | undefined>();

  /** Groups led by these pids now (a pid added again: the group it leads now). */
  add(...pgids: number[]): void {
    for (const pgid of pgids) this.groups.set(pgid, procStat(pgid)?.startTicks);
  }

  killAll(): void {
    for (const [pgid, start] of this.groups) if (!groupIdReused(pgid, start)) killQuietly(-pgid);
  }
}

/**
 * The live instance processes of `app` on this machine, by instance name: the process-group
 * leaders (one per instance: the agent starts each in a group of its own) whose environment
 * says CLUSTER_APP=<app>. A process forked but not yet exec'd still has the agent's
 * environment, so it is not counted until it runs the instance's command.
 */
export function instanceProcesses(app: string): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] === 'Z' || Number(fields[2]) !== Number(entry)) continue; // zombie, or not a group leader
      const env = readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0');
      if (!env.includes(`CLUSTER_APP=${app}`)) continue;
      const name = env.find((v) => v.startsWith('CLUSTER_INSTANCE='))?.slice('CLUSTER_INSTANCE='.length) ?? '?';
      out.set(name, [...(out.get(name) ?? []), Number(entry)]);
    } catch {
      // ended while we looked, or not ours to read
    }
  }
  return out;
}

/** How many instance processes of `app` run on this machine (see instanceProcesses()). */
export function countInstanceProcesses(app: string): number {
  let n = 0;
  for (const pids of instanceProcesses(app).values()) n += pids.length;
  return n;
}

/**
 * `command` run next to a listener on $PORT, for a test web whose script does not serve: a web is
 * `up` only once it accepts connections there (docs/boot-checks.md). The listener is in the
 * instance's process group, so it stops with it.
 */
export function listening(command: string): string {
  return `node ${fixture('listen.js')} & ${command}`;
}

/** Live processes whose command line or working directory contains `marker` (to find app processes). */
/** A process's command line, its arguments split at NUL; '' once it has exited. */
export function cmdlineOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}

export function pidsMatching(marker: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ');
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue; // zombies are dead
      let cwd = '';
      try {
        cwd = readlinkSync(`/proc/${entry}/cwd`);
      } catch {
        // not ours to read
      }
      if (cmdline.includes(marker) || cwd.includes(marker)) out.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return out;
}

const NS_LAST_PID = '/proc/sys/kernel/ns_last_pid';
/** Test files run side by side in one pid namespace: one of them at a time moves its pid counter. */
const NS_LAST_PID_LOCK = path.join(tmpdir(), 'cluster-tests-ns-last-pid.lock');
/** What groupLeaderWithPid() started, killed when this process exits whatever the test did. */
const leaders = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of leaders) child.kill('SIGKILL');
});

/**
 * Starts `sleep 1000` as the leader of a new process group with pid `pid`, once that number is
 * free, as the kernel would give it out again after pid wrap-around (pid reuse, made on purpose:
 * /proc/sys/kernel/ns_last_pid, root only). Other processes started meanwhile on the machine can
 * take the number first: it tries again until `deadline` (epoch ms); undefined when it never got it.
 */
export async function groupLeaderWithPid(pid: number, deadline: number): Promise<ChildProcess | undefined> {
  // The first try runs before the first await: in the caller's turn (see reuseWhenReaped()).
  for (;;) {
    // procStat() sees zombies too, whose pid is not given out again until they are reaped.
    if (procStat(pid) === undefined) {
      const child = spawnWithPid(pid);
      if (child === null) return undefined; // not root, or no such file: pid reuse cannot be made here
      if (child?.pid === pid) {
        leaders.add(child);
        child.once('exit', () => leaders.delete(child));
        return child;
      }
      child?.kill('SIGKILL');
    }
    if (Date.now() >= deadline) return undefined;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * One try at `sleep 1000` with pid `pid`, under the lock: the counter set just below it, then put
 * back where the machine had it, so the tests beside this one get fresh pids, not those just freed.
 * undefined: the lock is another file's now; null: the counter cannot be set here.
 */
function spawnWithPid(pid: number): ChildProcess | undefined | null {
  let lock: number;
  try {
    lock = openSync(NS_LAST_PID_LOCK, 'wx');
  } catch {
    // Held, or left by a test process killed while it held it (it is held for a millisecond).
    try {
      if (Date.now() - statSync(NS_LAST_PID_LOCK).mtimeMs > 5_000) rmSync(NS_LAST_PID_LOCK, { force: true });
    } catch {
      // gone meanwhile
    }
    return undefined;
  }
  let last = 0;
  try {
    last = Number(readFileSync(NS_LAST_PID, 'utf8'));
    writeFileSync(NS_LAST_PID, String(pid - 1));
  } catch {
    closeSync(lock);
    rmSync(NS_LAST_PID_LOCK, { force: true });
    return null;
  }
  try {
    return spawn('sleep', ['1000'], { detached: true, stdio: 'ignore' });
  } finally {
    const now = Number(readFileSync(NS_LAST_PID, 'utf8'));
    if (last > now) writeFileSync(NS_LAST_PID, String(last));
    closeSync(lock);
    rmSync(NS_LAST_PID_LOCK, { force: true });
  }
}

/**
 * groupLeaderWithPid() for `child`'s pid, tried first in the same turn as its reaping (its 'exit'
 * event): before a timer of this process (a poll) can run and see that its group has ended.
 * Gives up `timeoutMs` from now.
 */
export function reuseWhenReaped(child: ChildProcess, timeoutMs: number): Promise<ChildProcess | undefined> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve) => child.once('exit', () => resolve(groupLeaderWithPid(child.pid!, deadline))));
}

