/**
 * One OS process of an instance: its command (the program itself, or `sh -c <command>`) in its
 * own process group, output read line by line, exit reported only once its pipes are drained,
 * stopped in stages (SIGTERM, then SIGKILL).
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { closeSync, existsSync } from 'node:fs';
import { Readable } from 'node:stream';
import { readOutput, type OutputOptions, type OutputReader } from './output-reader';
import { closeOutputFds, fifoReader, openFifoReader, openOutputFdsRemaking, type OutputFds, type OutputFifos } from './output-fifos';
import { errorCode, groupExists, groupHasLiveMembers, signalGroup } from './process-group';
import { isSameProcess, procStat } from './proc-stat';
import { directCommand, shellScript, type DirectCommand, type DirectCommandMemo } from './shell-script';

export type { OutputFifos } from './output-fifos';

/** What to run and where its output goes. */
export interface SpawnInstanceOptions extends OutputOptions {
  command: string;
  cwd: string;
  /** The complete environment of the process (nothing is inherited from the agent). */
  env: Record<string, string>;
  /** After the process exits, how long its pipes may stay open (held by an escaped grandchild). Default 2 s. */
  closeTimeoutMs?: number;
  /** FIFOs (made with output-fifos.ts) for stdout and stderr instead of anonymous pipes; see spawnInstanceProcess. */
  output?: OutputFifos;
  /** Remembers how the command was started last time (an instance's restarts). */
  directMemo?: DirectCommandMemo;
}

/** A process of an earlier agent run to take over. */
export interface AdoptInstanceOptions extends OutputOptions, Pick<SpawnInstanceOptions, 'closeTimeoutMs'> {
  pid: number;
  /** Its start time in clock ticks (proc-stat.ts): a different one means the pid was reused. */
  startTicks: number;
  startedAtMs: number;
  output: OutputFifos;
  /** SIGTERM to SIGKILL when it must be stopped because its output cannot be reopened (default 10 s). */
  graceMs?: number;
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
  /**
   * Whether the main process is still there. `exited` can come up to the close timeout later:
   * a grandchild that left the group (setsid) may hold the pipes after the process is gone.
   */
  readonly alive: boolean;
  /**
   * SIGTERM to the group, SIGKILL after `graceMs`; a second call SIGKILLs at once. Resolves after
   * exit. `signalled`: SIGTERM was sent already (by an earlier agent run): only the SIGKILL is left.
   */
  stop(graceMs: number, signalled?: boolean): Promise<void>;
  /** Stops reading and watching without touching the process (hand-over to the next agent run); `exited` never resolves after. */
  detach(): void;
}

/** Exit code reported when the process could not be started, as a shell does for a missing command. */
export const SPAWN_FAILED_CODE = 127;

const DEFAULT_CLOSE_TIMEOUT_MS = 2_000;
/** How often an adopted process (not our child: no exit event) is looked for in the process table. */
const ADOPTED_POLL_MS = 250;

/**
 * Starts the command in a new process group: the program itself when the shell would only
 * look it up and exec it (shell-script.ts directCommand), else `/bin/sh -c command`. Never
 * throws; a failed spawn shows in `exited`. stdin is /dev/null.
 *
 * With `output`, stdout and stderr are FIFOs that the process opens read-write: as long as it
 * lives the pipe has a reader (itself), so it never gets SIGPIPE while no agent reads, and what
 * it prints then waits in the pipe (up to the pipe's buffer, then the write blocks) until an
 * agent opens the FIFO again. That is what lets an agent restart under running instances.
 *
 * The caller tells the orphan guard the new group in the same turn (its pipe holds the line
 * before anything else can happen to the agent); a process started by an agent that dies
 * between fork and that line is found by the markers in its environment (orphan-guard.ts).
 */
export function spawnInstanceProcess(opts: SpawnInstanceOptions): RunningProcess {
  const startedAtMs = Date.now();
  let child: ChildProcess;
  let fds: OutputFds | undefined;
  try {
    fds = opts.output && openOutputFdsRemaking(opts.output);
    const options = {
      cwd: opts.cwd,
      env: opts.env,
      // detached ⇒ setsid(): the process leads its own group, so the whole tree can be
      // signalled with kill(-pid) and a Ctrl-C at the agent's terminal does not reach it.
      detached: true,
      stdio: ['ignore', fds?.childOut ?? 'pipe', fds?.childErr ?? 'pipe'] as ['ignore', number | 'pipe', number | 'pipe'],
    };
    const direct = opts.directMemo ? opts.directMemo.get(opts.command, opts.env, opts.cwd) : directCommand(opts.command, opts.env, opts.cwd);
    child = direct ? spawnDirect(direct, options, opts.command) : spawn('/bin/sh', ['-c', shellScript(opts.command)], options);
  } catch (err) {
    // Invalid arguments (e.g. a NUL byte in an env value) throw synchronously.
    if (fds) closeOutputFds(fds, true);
    return failedProcess(startedAtMs, spawnError(err, opts.cwd));
  }
  // The child has its own copies now; ours would keep the pipes open after it exits.
  if (fds) closeOutputFds(fds, false);
  const stdout = fds ? fifoReader(fds.readOut) : (child.stdout as Readable);
  const stderr = fds ? fifoReader(fds.readErr) : (child.stderr as Readable);
  const proc = new OsProcess(child.pid ?? 0, startedAtMs, stdout, stderr, opts);
  child.on('error', (err) => {
    // Without a pid the spawn itself failed; otherwise this cannot happen (we never use child.kill).
    if (child.pid === undefined) proc.spawnFailed(spawnError(err, opts.cwd));
  });
  child.on('exit', (code, signal) => proc.mainExited({ code, signal }));
  return proc;
}

/**
 * Execs the program itself. An exec the kernel refuses in a way the shell handles (a script
 * without `#!`, which sh runs as a shell script) throws here: the shell then does it, as before.
 */
function spawnDirect(direct: DirectCommand, options: SpawnOptions, command: string): ChildProcess {
  try {
    return spawn(direct.file, direct.args, { ...options, argv0: direct.argv0 });
  } catch {
    return spawn('/bin/sh', ['-c', shellScript(command)], options);
  }
}

/**
 * Takes over a process started by an earlier agent run (see the handover module): its output
 * is read from its FIFOs again, its end noticed by polling the process table (it is not our
 * child, so its exit status is unknown) and by its pipes closing.
 */
export function adoptInstanceProcess(opts: AdoptInstanceOptions): RunningProcess {
  let fds: { readOut: number; readErr: number } | undefined;
  let failure: Error | undefined;
  try {
    const readOut = openFifoReader(opts.output.stdout);
    try {
      fds = { readOut, readErr: openFifoReader(opts.output.stderr) };
    } catch (err) {
      closeSync(readOut);
      throw err;
    }
  } catch (err) {
    failure = new Error(`cannot reopen the output of pid ${opts.pid} (${(err as Error).message}); it was stopped`);
  }
  // Output that cannot be read cannot be supervised (and the process blocks once its pipe is
  // full): the process is stopped like any other, then reported as failed, so that the instance
  // starts it afresh instead of running a second copy next to it.
  const pipes = fds ? [fifoReader(fds.readOut), fifoReader(fds.readErr)] : [Readable.from([]), Readable.from([])];
  const proc = new OsProcess(opts.pid, opts.startedAtMs, pipes[0]!, pipes[1]!, opts);
  const check = () => {
    if (!isSameProcess(opts.pid, opts.startTicks)) proc.mainExited({ code: null, signal: null });
  };
  const reused = () => {
    const stat = procStat(opts.pid);
    return stat !== undefined && stat.startTicks !== opts.startTicks;
  };
  proc.watchAdopted(check, reused);
  if (!failure) return proc;
  const error = failure;
  const stopped = proc.stop(opts.graceMs ?? 10_000);
  return {
    pid: opts.pid,
    startedAtMs: opts.startedAtMs,
    alive: false, // being stopped: never up
    exited: stopped.then(() => ({ code: null, signal: null, error })),
    stop: (graceMs, signalled) => proc.stop(graceMs, signalled),
    detach: () => proc.detach(),
  };
}

class OsProcess implements RunningProcess {
  readonly exited: Promise<ProcessExit>;
  private readonly readers: OutputReader[];
  private readonly closeTimeoutMs: number;
  private resolveExited: (exit: ProcessExit) => void = () => undefined;
  private status: ProcessExit | undefined;
  private mainGone = false;
  private openPipes = 2;
  private pipesClosed = false;
  /** When this object was made: the group existed by then (process-group.ts's LiveGroups). */
  private readonly since = performance.now();
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
  private adoptedTimer: NodeJS.Timeout | undefined;
  /** Adopted processes only (see watchAdopted): a look at the process table, and whether the pid is someone else's now. */
  private onPipesClosed: (() => void) | undefined;
  private reused: () => boolean = () => false;

  constructor(
    readonly pid: number,
    readonly startedAtMs: number,
    private readonly stdout: Readable,
    private readonly stderr: Readable,
    opts: OutputOptions & Pick<SpawnInstanceOptions, 'closeTimeoutMs'>,
  ) {
    this.closeTimeoutMs = opts.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS;
    this.exited = new Promise((resolve) => (this.resolveExited = resolve));
    this.readers = [
      readOutput(stdout, 'stdout', opts, () => this.pipeClosed()),
      readOutput(stderr, 'stderr', opts, () => this.pipeClosed()),
    ];
  }

  get alive(): boolean {
    return !this.mainGone;
  }

  stop(graceMs: number, signalled = false): Promise<void> {
    this.stopRequests++;
    if (!this.finished) {
      if (this.stopRequests === 1 && !this.mainGone) {
        if (!signalled && !this.reused()) signalGroup(this.pid, 'SIGTERM');
        this.killTimer = setTimeout(() => this.killGroup(), Math.max(0, graceMs));
      } else {
        this.killGroup();
      }
    }
    return this.exited.then(() => undefined);
  }

  detach(): void {
    if (this.finished) return;
    // What was read is handed on (gate or not); what is still in the pipe waits there for the next agent.
    this.finish(true);
    this.stdout.destroy();
    this.stderr.destroy();
  }

  /** The spawn itself failed: nothing ran. */
  spawnFailed(error: Error): void {
    this.status = { code: SPAWN_FAILED_CODE, signal: null, error };
    this.mainGone = true;
    this.groupSettled = true;
    this.armCloseTimeout();
    this.tryFinish();
  }

  /** The main process is gone (reaped child, or an adopted pid no longer in the process table). */
  mainExited(status: ProcessExit): void {
    if (this.mainGone) return;
    clearInterval(this.adoptedTimer);
    this.status = status;
    this.mainGone = true;
    // Not stopping: the main process is gone and nothing of its group may outlive it.
    if (this.stopRequests === 0 || this.killSent) this.killGroup();
    else this.pollGroup();
    this.tryFinish();
  }

  /**
   * An adopted process is not our child: look for its end now and then, and when its pipes close.
   * Its group is only signalled while the pid is not someone else's: the kernel gives a pid out
   * again only once no group of that id is left, so a reused pid means nothing of ours remains.
   */
  watchAdopted(check: () => void, reused: () => boolean): void {
    this.reused = reused;
    // Not unref'd: while it supervises an adopted process this poll is the agent's work, as a
    // child handle is for a process it started (the pipes can close before the process is gone).
    this.adoptedTimer = setInterval(check, ADOPTED_POLL_MS);
    this.onPipesClosed = check;
    check();
  }


  private pipeClosed(): void {
    if (--this.openPipes > 0) return;
    this.pipesClosed = true;
    this.onPipesClosed?.();
    this.tryFinish();
  }

  private killGroup(): void {
    clearTimeout(this.killTimer);
    clearInterval(this.pollTimer);
    if (!this.reused()) signalGroup(this.pid, 'SIGKILL');
    this.killSent = true;
    if (!this.mainGone) {
      // A reaped child reports its exit; an adopted process is looked for by the poll.
      return;
    }
    this.groupSettled = true;
    this.armCloseTimeout();
    this.tryFinish();
  }

  /** While stopping, notices the group has emptied before the grace period is over. */
  private pollGroup(): void {
    this.pollTimer = setInterval(() => {
      // Once the pipes are closed, zombies waiting for a lazy PID 1 may be all that is left.
      const ours = !this.reused();
      if (ours && (this.pipesClosed ? groupHasLiveMembers(this.pid, this.since) : groupExists(this.pid))) return;
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
    if (this.closeTimer || this.pipesClosed || this.finished) return;
    this.closeTimer = setTimeout(() => {
      // A pipe the output gate holds (readOutput paused it: the log writer is behind) is still
      // full of the process's last lines, not held by a grandchild: destroying it would lose
      // them silently. The timeout starts again once the gate lets it be read (docs/logs.md).
      const held = [this.stdout, this.stderr].find((pipe) => pipe.isPaused() && !pipe.destroyed);
      if (held) {
        this.closeTimer = undefined;
        held.once('resume', () => this.armCloseTimeout());
        return;
      }
      this.stdout.destroy();
      this.stderr.destroy();
      // Destroying the pipes emits 'close'; this is only a safety net.
      this.closeTimer = setTimeout(() => {
        this.pipesClosed = true;
        this.tryFinish();
      }, 1_000);
    }, this.closeTimeoutMs);
  }

  private tryFinish(): void {
    if (this.finished || !this.mainGone || !this.pipesClosed) return;
    if (this.stopRequests > 0 && !this.groupSettled) return;
    // 'close' can be emitted before our own 'end' listeners ran: finish() flushes final lines.
    this.finish();
    this.resolveExited(this.status ?? { code: null, signal: null });
  }

  /** No more timers, and every line read so far handed on (`detaching`: see OutputReader.detach). */
  private finish(detaching = false): void {
    this.finished = true;
    clearTimeout(this.killTimer);
    clearInterval(this.pollTimer);
    clearTimeout(this.closeTimer);
    clearInterval(this.adoptedTimer);
    for (const reader of this.readers) {
      if (detaching) reader.detach();
      else reader.end();
    }
  }
}

/** A process that never started: it has exited already. */
function failedProcess(startedAtMs: number, error: Error): RunningProcess {
  const exited = Promise.resolve<ProcessExit>({ code: SPAWN_FAILED_CODE, signal: null, error });
  return { pid: 0, startedAtMs, alive: false, exited, stop: () => exited.then(() => undefined), detach: () => undefined };
}

function spawnError(err: unknown, cwd: string): Error {
  const cause = err instanceof Error ? err : new Error(String(err));
  // libuv reports a missing cwd as "spawn /bin/sh ENOENT", which points at the wrong thing.
  const message =
    errorCode(err) === 'ENOENT' && !existsSync(cwd)
      ? `working directory ${cwd} does not exist`
      : `cannot start the command in ${cwd}: ${cause.message}`;
  return new Error(message, { cause });
}
