/**
 * What really runs: instance processes found in /proc by the environment the agent gives
 * them (README "Inside a process": CLUSTER_APP, CLUSTER_INSTANCE, CLUSTER_HOST = the agent
 * id). An instance is a process group (the agent starts each one with setsid), so one
 * running instance is one live group whose processes carry its variables; zombies do not
 * count. Needs permission to read other processes' environ (the same user, or root).
 */
import * as fs from 'node:fs';

export interface InstanceProcess {
  app: string;
  instance: string;
  /** The agent id from CLUSTER_HOST. */
  host: string;
  /** The process group: the pid of the instance's `sh -c` (its leader). */
  pgid: number;
  /** Live, non-zombie processes in the group. */
  pids: number[];
  /** Parent of the group leader (1 or a subreaper when its agent is gone: an orphan). */
  ppid: number;
}

interface ProcStat {
  state: string;
  ppid: number;
  pgid: number;
}

function readStat(pid: string): ProcStat | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after "(comm)": state ppid pgrp …; comm may hold spaces and parentheses.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: rest[0]!, ppid: Number(rest[1]), pgid: Number(rest[2]) };
  } catch {
    return undefined;
  }
}

function readEnv(pid: string): Map<string, string> | undefined {
  try {
    const env = new Map<string, string>();
    for (const entry of fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')) {
      const eq = entry.indexOf('=');
      if (eq > 0) env.set(entry.slice(0, eq), entry.slice(eq + 1));
    }
    return env;
  } catch {
    return undefined; // gone, or not ours to read
  }
}

/** Every running instance (process group) of `app`, in no particular order. */
export function instanceProcesses(app: string): InstanceProcess[] {
  const groups = new Map<number, InstanceProcess>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(entry);
    if (!stat || stat.state === 'Z' || stat.state === 'X') continue;
    const env = readEnv(entry);
    if (env?.get('CLUSTER_APP') !== app) continue;
    const instance = env.get('CLUSTER_INSTANCE');
    const host = env.get('CLUSTER_HOST');
    if (!instance || !host) continue;
    const group = groups.get(stat.pgid) ?? { app, instance, host, pgid: stat.pgid, pids: [], ppid: 0 };
    group.pids.push(Number(entry));
    if (Number(entry) === stat.pgid) group.ppid = stat.ppid;
    groups.set(stat.pgid, group);
  }
  return [...groups.values()];
}
