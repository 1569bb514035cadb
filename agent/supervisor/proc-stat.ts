/**
 * What the process table says about a pid: its state, group and start time. The start time
 * (clock ticks since boot, field 22 of /proc/PID/stat) tells a process apart from a later one
 * that was given the same pid, which is what makes re-adopting instances after an agent
 * restart safe.
 */
import { readdirSync, readFileSync } from 'node:fs';

export interface ProcStat {
  pid: number;
  /** The program's name as the kernel keeps it (at most 15 bytes). */
  comm: string;
  /** One letter: R, S, D, Z (zombie), T… */
  state: string;
  ppid: number;
  pgid: number;
  /** Start time in clock ticks since boot: with the boot id, identifies a process for good. */
  startTicks: number;
  /** The controlling terminal's device number (0: none). */
  ttyNr: number;
  /** The foreground process group of the controlling terminal (-1: none). */
  tpgid: number;
  /** CPU time in clock ticks: user and system, and that of reaped children (cutime, cstime). */
  utime: number;
  stime: number;
  cutime: number;
  cstime: number;
  /** Resident set size in pages. */
  rssPages: number;
}

/** Every pid in the process table now; undefined without /proc. */
export function allPids(): number[] | undefined {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return undefined;
  }
  const pids: number[] = [];
  for (const name of entries) {
    const first = name.charCodeAt(0);
    if (first >= 48 && first <= 57) pids.push(Number(name)); // the rest are not processes
  }
  return pids;
}

/** The stat line of `pid`, or undefined when no such process exists (or no /proc). */
export function procStat(pid: number): ProcStat | undefined {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  return parseProcStat(text);
}

/** Parses a /proc/PID/stat line; `comm` may contain spaces and parentheses. */
export function parseProcStat(text: string): ProcStat | undefined {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  // After "pid (comm) ": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
  // utime stime cutime cstime priority nice threads itrealvalue starttime …
  const fields = text.slice(close + 2).split(' ');
  const pid = Number(text.slice(0, open).trim());
  const startTicks = Number(fields[19]);
  if (!Number.isInteger(pid) || !Number.isFinite(startTicks)) return undefined;
  return {
    pid, comm: text.slice(open + 1, close), state: fields[0] ?? '?', ppid: Number(fields[1]), pgid: Number(fields[2]), startTicks,
    ttyNr: Number(fields[4]), tpgid: Number(fields[5]),
    utime: Number(fields[11]), stime: Number(fields[12]), cutime: Number(fields[13]), cstime: Number(fields[14]),
    rssPages: Number(fields[21]),
  };
}

/** Whether `pid` is the same process that had `startTicks` (and is not a zombie). */
export function isSameProcess(pid: number, startTicks: number): boolean {
  const stat = procStat(pid);
  return stat !== undefined && stat.startTicks === startTicks && stat.state !== 'Z';
}

/** The environment a process was started with; empty when it cannot be read. */
export function procEnviron(pid: number): Map<string, string> {
  const env = new Map<string, string>();
  let raw: string;
  try {
    raw = readFileSync(`/proc/${pid}/environ`, 'utf8');
  } catch {
    return env;
  }
  for (const entry of raw.split('\0')) {
    const eq = entry.indexOf('=');
    if (eq > 0) env.set(entry.slice(0, eq), entry.slice(eq + 1));
  }
  return env;
}

let cachedBootId: string | undefined;

/** This boot's id: pids and start times mean nothing across a reboot. */
export function bootId(): string {
  if (cachedBootId === undefined) {
    try {
      cachedBootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    } catch {
      cachedBootId = ''; // not Linux: the check degrades to "same boot"
    }
  }
  return cachedBootId;
}

/**
 * Time since boot in ms (/proc/uptime, the clock the watchdog reads: orphan-guard.ts); undefined
 * when it cannot be read.
 */
export function uptimeMs(): number | undefined {
  try {
    const seconds = Number(readFileSync('/proc/uptime', 'latin1').split(' ', 1)[0]);
    return Number.isFinite(seconds) ? Math.floor(seconds * 1000) : undefined;
  } catch {
    return undefined;
  }
}
