/** Test helpers for tests that spawn real processes. */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
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

/**
 * Starts `sleep 1000` as the leader of a new process group with pid `pid`, once that number is
 * free, as the kernel would give it out again after pid wrap-around (pid reuse, made on purpose:
 * /proc/sys/kernel/ns_last_pid, root only). Other processes started meanwhile on the machine can
 * take the number first: it tries again until `timeoutMs`; undefined when it never got it.
 */
export async function groupLeaderWithPid(pid: number, timeoutMs: number): Promise<ChildProcess | undefined> {
  const deadline = Date.now() + timeoutMs;
  // The first try runs before the first await: in the caller's turn (see reuseWhenReaped()).
  for (;;) {
    if (isGone(pid) && !pidInUse(pid)) {
      let last: string;
      try {
        last = readFileSync(NS_LAST_PID, 'utf8').trim();
        writeFileSync(NS_LAST_PID, String(pid - 1));
      } catch {
        return undefined; // not root, or no such file: pid reuse cannot be made here
      }
      const child = spawn('sleep', ['1000'], { detached: true, stdio: 'ignore' });
      // Back to where the machine was: the tests beside this one get fresh pids, not those just freed.
      if (Number(last) > pid) writeFileSync(NS_LAST_PID, last);
      if (child.pid === pid) return child;
      child.kill('SIGKILL');
    }
    if (Date.now() >= deadline) return undefined;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * groupLeaderWithPid() for `child`'s pid, tried first in the same turn as its reaping (its 'exit'
 * event): before a timer of this process (a poll) can run and see that its group has ended.
 */
export function reuseWhenReaped(child: ChildProcess, timeoutMs: number): Promise<ChildProcess | undefined> {
  return new Promise((resolve) => child.once('exit', () => resolve(groupLeaderWithPid(child.pid!, timeoutMs))));
}

/** Whether `pid` names a process, even a zombie (whose number is not given out again until it is reaped). */
function pidInUse(pid: number): boolean {
  try {
    readFileSync(`/proc/${pid}/stat`);
    return true;
  } catch {
    return false;
  }
}
