/**
 * One OS process of an instance: `sh -c <command>` in its own process group, output read
 * line by line, exit reported only once its pipes are drained, stopped in stages (STYLE 7).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { LineSplitter } from './line-splitter';

/** Which pipe a line came from. */
export type OutputStream = 'stdout' | 'stderr';

/** What to run and where its output goes. */
export interface SpawnInstanceOptions {
  command: string;
  cwd: string;
  /** The complete environment of the process (nothing is inherited from the agent). */
  env: Record<string, string>;
  /** Called for every line of output; must not throw. `cut` marks a piece of an over-long line. */
  onLine(stream: OutputStream, line: string, cut: boolean): void;
  /** Longest line held in memory; longer lines come in pieces. Default 16 KiB. */
  maxLineBytes?: number;
  /** After the process exits, how long its pipes may stay open (held by an escaped grandchild). Default 2 s. */
  closeTimeoutMs?: number;
}

/** How the process ended. `error` is set when it could not be started at all. */
export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  error?: Error;
}

/** A spawned process. */
export interface RunningProcess {
  /** Process id, which is also its process group id; 0 when spawning failed. */
  readonly pid: number;
  readonly startedAtMs: number;
  /** Resolves (never rejects) once the process exited and its stdout and stderr were read to the end. */
  readonly exited: Promise<ProcessExit>;
  /** SIGTERM to the group, SIGKILL after `graceMs`; a second call SIGKILLs at once. Resolves after exit. */
  stop(graceMs: number): Promise<void>;
}

/** Exit code reported when the process could not be started, as a shell does for a missing command. */
export const SPAWN_FAILED_CODE = 127;

const DEFAULT_CLOSE_TIMEOUT_MS = 2_000;

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
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return true;
  }
  for (const name of entries) {
    const first = name.charCodeAt(0);
    if (first < 48 || first > 57) continue; // not a pid
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'latin1');
    } catch {
      continue; // exited meanwhile
    }
    // "pid (comm) state ppid pgrp …"; comm may contain spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ', 3);
    if (Number(fields[2]) === pgid && fields[0] !== 'Z') return true;
  }
  return false;
}

// Words of a plain command: no quotes, globs, operators or redirections; `$VAR` and `${VAR}` expand.
const PLAIN_WORD = /^(?:[A-Za-z0-9_.,:/@%+=-]|\$[A-Za-z_][A-Za-z0-9_]*|\$\{[A-Za-z_][A-Za-z0-9_]*\})+$/;
// What `exec` would not run the same way: shell builtins and keywords.
const SHELL_WORDS = new Set([
  '.', ':', 'alias', 'bg', 'break', 'cd', 'command', 'continue', 'echo', 'eval', 'exec', 'exit', 'export', 'false', 'fc', 'fg',
  'getopts', 'hash', 'jobs', 'kill', 'local', 'printf', 'pwd', 'read', 'readonly', 'return', 'set', 'shift', 'source',
  'test', 'times', 'trap', 'true', 'type', 'ulimit', 'umask', 'unalias', 'unset', 'wait', 'if', 'then', 'else', 'elif',
  'fi', 'case', 'esac', 'for', 'while', 'until', 'do', 'done', 'in', 'function', 'select', 'time',
]);

/**
 * The script `sh -c` gets for `command`. Debian's sh (dash) does not exec the last command of
 * `sh -c`: every instance would be a shell waiting for the program, and every start would pay
 * one more fork and exec (about 1 ms, a fifth of a restart). A command that is one plain simple
 * command (see PLAIN_WORD; not a builtin, no VAR=x prefix) gets `exec ` in front: the same
 * program with the same arguments, as one process. Anything else runs as written.
 */
export function shellScript(command: string): string {
  const words = command.trim().split(/[ \t]+/);
  const first = words[0] ?? '';
  if (first === '' || first.includes('=') || first.includes('$') || SHELL_WORDS.has(first)) return command;
  return words.every((word) => PLAIN_WORD.test(word)) ? `exec ${command.trim()}` : command;
}

/** Starts `/bin/sh -c command` in a new process group. Never throws; a failed spawn shows in `exited`. */
export function spawnInstanceProcess(opts: SpawnInstanceOptions): RunningProcess {
  const startedAtMs = Date.now();
  let child: ChildProcess;
  try {
    child = spawn('/bin/sh', ['-c', shellScript(opts.command)], {
      cwd: opts.cwd,
      env: opts.env,
      // detached ⇒ setsid(): the process leads its own group, so the whole tree can be
      // signalled with kill(-pid) and a Ctrl-C at the agent's terminal does not reach it.
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (err) {
    // Invalid arguments (e.g. a NUL byte in an env value) throw synchronously.
    return failedProcess(startedAtMs, spawnError(err, opts.cwd));
  }
  return new OsProcess(child, startedAtMs, opts);
}

class OsProcess implements RunningProcess {
  readonly pid: number;
  readonly exited: Promise<ProcessExit>;
  private readonly stdout: Readable;
  private readonly stderr: Readable;
  private readonly splitters: LineSplitter[];
  private readonly closeTimeoutMs: number;
  private resolveExited: (exit: ProcessExit) => void = () => undefined;
  private status: ProcessExit | undefined;
  private mainExited = false;
  private pipesClosed = false;
  // During a stop, the exit of the main process does not end the stop: when `sh -c` did not
  // exec the command, sh dies of SIGTERM at once while the app is still shutting down. The
  // group is "settled" once it is empty or has been sent SIGKILL.
  private groupSettled = false;
  private finished = false;
  private stopRequests = 0;
  private killSent = false;
  private killTimer: NodeJS.Timeout | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private closeTimer: NodeJS.Timeout | undefined;

  constructor(
    child: ChildProcess,
    readonly startedAtMs: number,
    opts: SpawnInstanceOptions,
  ) {
    this.pid = child.pid ?? 0;
    this.closeTimeoutMs = opts.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS;
    this.exited = new Promise((resolve) => (this.resolveExited = resolve));
    this.stdout = child.stdout as Readable;
    this.stderr = child.stderr as Readable;
    this.splitters = [
      readLines(this.stdout, new LineSplitter((line, cut) => opts.onLine('stdout', line, cut), opts.maxLineBytes)),
      readLines(this.stderr, new LineSplitter((line, cut) => opts.onLine('stderr', line, cut), opts.maxLineBytes)),
    ];

    child.on('error', (err) => {
      // Without a pid the spawn itself failed; otherwise this cannot happen (we never use child.kill).
      if (this.pid !== 0) return;
      this.status = { code: SPAWN_FAILED_CODE, signal: null, error: spawnError(err, opts.cwd) };
      this.mainExited = true;
      this.groupSettled = true;
      this.armCloseTimeout();
      this.tryFinish();
    });
    child.on('exit', (code, signal) => {
      this.status = { code, signal };
      this.mainExited = true;
      // Not stopping: the main process is gone and nothing of its group may outlive it.
      if (this.stopRequests === 0 || this.killSent) this.killGroup();
      else this.pollGroup();
      this.tryFinish();
    });
    // 'close' = exited and both pipes read to the end: only now are no lines left to lose.
    child.on('close', () => {
      this.pipesClosed = true;
      this.tryFinish();
    });
  }

  stop(graceMs: number): Promise<void> {
    this.stopRequests++;
    if (!this.finished) {
      if (this.stopRequests === 1 && !this.mainExited) {
        signalGroup(this.pid, 'SIGTERM');
        this.killTimer = setTimeout(() => this.killGroup(), Math.max(0, graceMs));
      } else {
        this.killGroup();
      }
    }
    return this.exited.then(() => undefined);
  }

  private killGroup(): void {
    clearTimeout(this.killTimer);
    clearInterval(this.pollTimer);
    signalGroup(this.pid, 'SIGKILL');
    this.killSent = true;
    if (!this.mainExited) return; // the main process dies of it; its 'exit' settles the group
    this.groupSettled = true;
    this.armCloseTimeout();
    this.tryFinish();
  }

  /** While stopping, notices the group has emptied before the grace period is over. */
  private pollGroup(): void {
    this.pollTimer = setInterval(() => {
      // Once the pipes are closed, zombies waiting for a lazy PID 1 may be all that is left.
      if (this.pipesClosed ? groupHasLiveMembers(this.pid) : groupExists(this.pid)) return;
      clearInterval(this.pollTimer);
      clearTimeout(this.killTimer);
      this.groupSettled = true;
      this.armCloseTimeout();
      this.tryFinish();
    }, 50);
  }

  // Pipes still open once the group is settled belong to a grandchild that escaped the
  // group (setsid): stop waiting for them after a while instead of hanging forever.
  private armCloseTimeout(): void {
    if (this.closeTimer || this.pipesClosed) return;
    this.closeTimer = setTimeout(() => {
      this.stdout.destroy();
      this.stderr.destroy();
      // Destroying the pipes makes the child emit 'close'; this is only a safety net.
      this.closeTimer = setTimeout(() => {
        this.pipesClosed = true;
        this.tryFinish();
      }, 1_000);
    }, this.closeTimeoutMs);
  }

  private tryFinish(): void {
    if (this.finished || !this.mainExited || !this.pipesClosed) return;
    if (this.stopRequests > 0 && !this.groupSettled) return;
    this.finished = true;
    clearTimeout(this.killTimer);
    clearInterval(this.pollTimer);
    clearTimeout(this.closeTimer);
    // 'close' can be emitted before our own 'end' listeners ran: flush final lines here.
    for (const splitter of this.splitters) splitter.end();
    this.resolveExited(this.status ?? { code: null, signal: null });
  }
}

/** A process that never started: it has exited already. */
function failedProcess(startedAtMs: number, error: Error): RunningProcess {
  const exited = Promise.resolve<ProcessExit>({ code: SPAWN_FAILED_CODE, signal: null, error });
  return { pid: 0, startedAtMs, exited, stop: () => exited.then(() => undefined) };
}

function readLines(stream: Readable, splitter: LineSplitter): LineSplitter {
  stream.on('data', (chunk: Buffer) => splitter.push(chunk));
  stream.on('end', () => splitter.end());
  // A read error ends the stream; 'close' follows and the exit is still reported.
  stream.on('error', () => undefined);
  return splitter;
}

function spawnError(err: unknown, cwd: string): Error {
  const cause = err instanceof Error ? err : new Error(String(err));
  // libuv reports a missing cwd as "spawn /bin/sh ENOENT", which points at the wrong thing.
  const message =
    errorCode(err) === 'ENOENT' && !existsSync(cwd)
      ? `working directory ${cwd} does not exist`
      : `cannot start /bin/sh in ${cwd}: ${cause.message}`;
  return new Error(message, { cause });
}

function errorCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}
