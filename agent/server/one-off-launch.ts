/**
 * Launching a one-off process (run-service.ts takes the calls): a port, its code fetched, the
 * spawn in a process group of its own, its output to the caller and the log store, its stop,
 * timeout and exit. A stop that comes while the code is fetched ends the launch before the spawn,
 * and so does a caller that went away (run-caller.ts); what a stop says is one-off-stops.ts's.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import * as os from 'node:os';
import * as grpc from '@grpc/grpc-js';
import type { InstanceStatus } from '../../proto/gen/cluster/agent/InstanceStatus';
import type { RunInput__Output } from '../../proto/gen/cluster/run/RunInput';
import type { RunOutput } from '../../proto/gen/cluster/run/RunOutput';
import type { RunStart__Output } from '../../proto/gen/cluster/run/RunStart';
import type { Logger } from '../../lib/log';
import type { ReadGate } from '../../lib/read-gate';
import type { LogStore } from '../logs/log-store';
import type { ReleaseCache } from '../releases/release-cache';
import { LineSplitter } from '../supervisor/line-splitter';
import type { PortAllocator } from '../supervisor/ports';
import { signalGroup } from '../supervisor/process-group';
import { isPlainCommand, shellScript } from '../supervisor/shell-script';
import { describeExit } from '../supervisor/restart-policy';
import { buildEnv } from '../instance-env';
import type { OneOffRegistry, StopReason } from './one-off-registry';
import { STOP_LINES, StoppedBeforeStart, stoppingReason } from './one-off-stops';
import { callerGone, letPendingClosesIn, whenCallerGone } from './run-caller';
import { PtySession, ptyCommand, termOrDefault, windowOrDefault } from './pty-session';
import { fetchWithRetries } from './code-fetch-retry';

const SIGNALS: ReadonlySet<string> = new Set(['SIGINT', 'SIGTERM', 'SIGKILL', 'SIGHUP', 'SIGQUIT']);
/** A caller that went away, a timeout, a StopRun: SIGTERM, then SIGKILL after this long. */
const ABANDON_GRACE_MS = 5_000;
/** After the process exits: how long output pipes still held by something outside its group are read (as for instances, child-process.ts). */
const PIPE_CLOSE_TIMEOUT_MS = 2_000;
/** How long an agent that stops waits for its one-offs: their grace, the pipes, a margin. */
export const ONE_OFF_STOP_TIMEOUT_MS = ABANDON_GRACE_MS + PIPE_CLOSE_TIMEOUT_MS + 1_000;

export interface RunDeps {
  agentId: string;
  /** The agent's data dir, absolute (instance-env.ts). */
  agentDir: string;
  releases: ReleaseCache;
  ports: PortAllocator;
  logs: LogStore;
  report(status: InstanceStatus): void;
  /** A one-off's process group started (orphan guard, escapees). */
  track(pgid: number, app: string, instance: string): void;
  /** It ended. */
  untrack(pgid: number): void;
  /**
   * A one-off's code is being fetched (true) or no longer (false: it started, or never will), by
   * run: recorded, so that the next agent run reports it gone should this one die meanwhile.
   */
  launching(app: string, instance: string, runId: string, fetching: boolean): void;
  /** SIGKILL to a formation instance's process (`ps:kill`), which its supervisor restarts; false when none runs. */
  killInstance(app: string, instance: string): boolean;
  logger: Logger;
}

export type RunCall = grpc.ServerDuplexStream<RunInput__Output, RunOutput>;

/** The run's code, fetched again after a pause while no control plane answers (code-fetch-retry.ts). */
function fetchCode(deps: RunDeps, start: RunStart__Output, goOn: () => boolean): Promise<string> {
  return fetchWithRetries(() => deps.releases.ensure(start.slug), {
    goOn,
    onRetry: (err, attempt, pauseMs) => deps.logger.warn({ app: start.app, instance: start.instance, slug: start.slug.slice(0, 12), attempt, pauseMs, err: (err as Error).message },
      'fetching a one-off\'s code failed for want of a control plane; trying again'),
  });
}

/** A started one-off process, and its terminal when it has one. */
export interface Launched {
  child: ChildProcessWithoutNullStreams;
  pty?: PtySession;
  /** The signals sent to its group (by number): an exit status of 128 + one of them is that signal's doing. */
  sent: Set<number>;
}

/**
 * The script `sh -c` runs for a one-off without a terminal. Debian's sh (dash) does not exec
 * the last command, and dies at once of a SIGINT, SIGTERM, SIGHUP or SIGQUIT sent to the group:
 * its exit (130 for a Ctrl-C) was the run's, whatever the command did with the signal, and the
 * rest of the group was killed then, cutting the command's own clean-up short. With these traps
 * sh waits for the command and exits with its status (42 for a program that handles Ctrl-C
 * with `exit(42)`), or 128 + the signal when that status is 0 (a loop of builtins). A command's
 * own traps replace them. On the command's first line, so that sh's messages keep its line
 * numbers. A plain command is exec'd instead (shell-script.ts): no sh at all.
 */
function oneOffScript(command: string): string {
  if (isPlainCommand(command)) return shellScript(command);
  const traps = ([['INT', 130], ['TERM', 143], ['HUP', 129], ['QUIT', 131]] as const)
    .map(([signal, status]) => `trap 's=$?; exit $((s ? s : ${status}))' ${signal}`)
    .join('; ');
  return `${traps}; ${command}`;
}

/**
 * Passes stdin, end of stdin, signals and window sizes to the process. A stdin pipe that is
 * full (a process that reads slower than its caller sends, or not at all) holds the run's
 * call through `input` until it drains or closes: the input waits in the caller, not here.
 */
export function deliver(launched: Launched, msg: RunInput__Output, input: ReadGate): void {
  const { child, pty } = launched;
  if (msg.stdin) {
    if (!child.stdin.write(msg.stdin) && child.stdin.writable) input.holdUntilDrained('stdin', child.stdin);
  }
  else if (msg.stdin_eof) child.stdin.end();
  else if (msg.resize) pty?.resize(windowOrDefault(msg.resize));
  else if (msg.signal && SIGNALS.has(msg.signal) && child.pid) {
    // On a terminal, what a key would reach: the foreground job.
    if (pty) pty.signal(msg.signal as NodeJS.Signals);
    else sendToGroup(launched, child.pid, msg.signal as NodeJS.Signals);
  }
}

/** Signals the group and notes the signal (Launched.sent). */
function sendToGroup(launched: { sent: Set<number> }, pgid: number, signal: NodeJS.Signals): void {
  launched.sent.add(os.constants.signals[signal]);
  signalGroup(pgid, signal);
}

export async function launch(
  deps: RunDeps,
  registry: OneOffRegistry,
  call: RunCall,
  start: RunStart__Output,
  early: RunInput__Output[],
  input: ReadGate,
): Promise<Launched> {
  // Its code stays unpacked until it ends (slug-janitor.ts): no assignment names a one-off's
  // slug, and its working directory may leave it (`cd /`), so neither keeps it.
  const unhold = deps.releases.hold(start.slug);
  let port = 0;
  let child: ChildProcessWithoutNullStreams;
  const tty = start.tty && !start.detach;
  const what = start.job ? `scheduled job \`${start.job}\`` : start.instance.startsWith('release.') ? `release command of v${start.release}` : 'one-off process';
  /** Reported `starting` while its code is fetched: `ps` lists it, and `ps:stop` finds this agent. */
  let reportedStarting = false;
  let forgetCaller = () => undefined as void;
  try {
    // Before the code is fetched: a full agent refuses at once, and the control plane tries another.
    port = await deps.ports.allocate();
    if (!deps.releases.isUnpacked(start.slug)) {
      deps.launching(start.app, start.instance, start.run_id, true);
      deps.report(fetchingStatus(start, what, port));
      reportedStarting = true;
    }
    // The slug may take a while: a stop that comes meanwhile (`ps:stop`, a leader that gave the
    // run up, the agent stopping) or a caller that goes away ends the launch at once, and the
    // command never starts. The fetch goes on for whoever else needs the slug.
    let givenUp = false;
    const stopped = new Promise<never>((_, reject) => {
      const giveUp = (err: Error) => {
        givenUp = true;
        reject(err);
      };
      registry.onStopWhileLaunching(start.app, start.instance, (reason) => giveUp(new StoppedBeforeStart(reason)), start.run_id);
      forgetCaller = whenCallerGone(call, (err) => giveUp(err));
    });
    const cwd = await Promise.race([fetchCode(deps, start, () => !givenUp), stopped]);
    await letPendingClosesIn();
    if (registry.stopping) throw new Error(`${deps.agentId} is stopping`);
    // Nothing is awaited from here to the spawn: a stop either came by now or finds the process.
    const stopReason = registry.stopWhileLaunching(start.app, start.instance, start.run_id);
    if (stopReason) throw new StoppedBeforeStart(stopReason);
    const gone = callerGone(call);
    if (gone) throw gone;
    const env = buildEnv({ app: start.app, instance: start.instance, release: start.release }, start.env, port, deps);
    if (tty) {
      const { file, args } = ptyCommand(start.command, windowOrDefault(start.window), env.SHELL);
      child = spawn(file, args, { cwd, env: { ...env, TERM: termOrDefault(start.term), SHELL: '/bin/sh' }, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
    } else {
      child = spawn('/bin/sh', ['-c', oneOffScript(start.command)], { cwd, env, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
    }
  } catch (err) {
    // Not started (spawn() itself throws on a config value with a NUL byte): nothing ends it later.
    forgetCaller();
    unhold();
    if (port) deps.ports.release(port);
    if (reportedStarting) {
      deps.report({ ...fetchingStatus(start, what, port), state: 'gone', reason: `not started: ${(err as Error).message}` });
      deps.launching(start.app, start.instance, start.run_id, false);
    }
    throw err;
  }
  forgetCaller();
  // Recorded as running from here on (track(), below), in the same write of the agent's state.
  if (reportedStarting) deps.launching(start.app, start.instance, start.run_id, false);
  const sent = new Set<number>();
  const pty = tty && child.pid ? new PtySession(child.pid) : undefined;
  const pid = child.pid ?? 0;
  const startedAtMs = Date.now();
  const log = (stream: 'stdout' | 'stderr' | 'system', line: string, cut = false) =>
    deps.logs.append(start.app, start.instance, stream, line, cut);
  const status = (state: string, reason: string): InstanceStatus => ({
    app: start.app, instance: start.instance, state, pid, started_at_ms: startedAtMs, restarts: 0,
    reason, release: start.release, port, command: start.command,
  });
  const running = () => child.exitCode === null && child.signalCode === null && pid !== 0;
  // Cleared at the exit, which kills the group at once: once the group is gone its id may be
  // given to a new group (an instance that just started), which a late SIGKILL would kill.
  let killTimer: NodeJS.Timeout | undefined;
  const terminate = () => {
    sendToGroup({ sent }, pid, 'SIGTERM');
    killTimer ??= setTimeout(() => signalGroup(pid, 'SIGKILL'), ABANDON_GRACE_MS).unref();
  };
  const abandon = () => {
    if (start.detach || !running()) return;
    terminate();
  };
  let timedOut = false;
  let stopped = false;
  /** Why the agent stopped it for itself (restarting, stopping with its instances); '' otherwise. */
  let stoppingForAgent = '';
  const stop = (why: StopReason) => {
    if (!running()) return;
    if (why === 'kill') {
      // Also after a stop already began: SIGKILL need not wait for the grace period.
      stopped = true;
      log('system', 'Killing process (SIGKILL) on request');
      signalGroup(pid, 'SIGKILL');
      return;
    }
    if (timedOut || stopped || stoppingForAgent) return;
    if (why === 'timeout') timedOut = true;
    // Not asked for by anyone: a job's run is then recorded as failed (killed by SIGTERM), not `stopped`.
    else if (why === 'agent-stop' || why === 'agent-restart') stoppingForAgent = stoppingReason(why, start.timeout_ms);
    else stopped = true;
    log('system', STOP_LINES[why](start.timeout_ms));
    // `ps` shows it `stopping` for its grace (a process that ignores SIGTERM stays up to 5 s).
    deps.report(status('stopping', stoppingReason(why, start.timeout_ms)));
    terminate();
  };
  registry.attach(start.app, start.instance, { stop }, start.run_id);
  const timeout = start.timeout_ms > 0 ? setTimeout(() => stop('timeout'), start.timeout_ms) : undefined;
  timeout?.unref();

  child.stdin.on('error', () => undefined); // the process may exit without reading its input
  if (pid) deps.track(pid, start.app, start.instance);
  log('system', `Starting ${what} with command \`${start.command}\`${start.detach ? ' (detached)' : tty ? ' (on a terminal)' : ''}`);
  deps.report(status('up', what));
  call.write({ started: { instance: start.instance, host: deps.agentId, pid } });
  if (start.detach) call.end();

  const lineEnds: Array<() => void> = [];
  for (const [name, stream] of [['stdout', child.stdout], ['stderr', child.stderr]] as const) {
    // A terminal ends lines with \r\n: the log keeps the line without the \r.
    const lines = new LineSplitter((line, cut) => log(name, tty && line.endsWith('\r') ? line.slice(0, -1) : line, cut));
    stream.on('data', (chunk: Buffer) => {
      lines.push(chunk);
      if (start.detach || call.cancelled || call.destroyed) return;
      if (!call.write(name === 'stdout' ? { stdout: chunk } : { stderr: chunk })) {
        // The caller reads slower than the process writes: let the pipe fill up.
        stream.pause();
        call.once('drain', () => stream.resume());
      }
    });
    let ended = false;
    const endLines = () => {
      if (ended) return;
      ended = true;
      lines.end();
    };
    stream.on('end', endLines);
    lineEnds.push(endLines);
  }
  call.on('cancelled', abandon);
  call.on('end', () => {
    if (!start.detach) child.stdin.end();
  });

  child.on('exit', () => {
    clearTimeout(killTimer);
    if (pid) signalGroup(pid, 'SIGKILL'); // nothing of the group outlives the run
    // Pipes still open after that are held by a process that left the group (setsid): stop
    // waiting for them, or the run never ends. That process is stopped once it has (escapees.ts).
    const closeLater = (): void => {
      setTimeout(() => {
        // A pipe paused for a slow caller still holds the run's last output: read it first.
        const held = [child.stdout, child.stderr].find((pipe) => pipe.isPaused() && !pipe.destroyed);
        if (held) {
          held.once('resume', closeLater);
          return;
        }
        for (const end of lineEnds) end(); // a last line without its newline, before the exit line
        child.stdout.destroy();
        child.stderr.destroy();
      }, PIPE_CLOSE_TIMEOUT_MS).unref();
    };
    closeLater();
  });
  // 'close' comes after the pipes are read to the end (or given up on, above): no output is lost.
  child.on('close', (code, exitSignal) => {
    // sh's traps (oneOffScript) turn a signal we sent into an exit status of 128 + it: name it.
    const sentSignal = code !== null && code > 128 && sent.has(code - 128) ? signalName(code - 128) : undefined;
    const signal = exitSignal ?? sentSignal ?? null;
    // The group was killed at 'exit': its id may belong to another group by now.
    if (pid) deps.untrack(pid);
    deps.ports.release(port);
    unhold();
    clearTimeout(timeout);
    const exitStatus = code ?? 128 + (signal ? os.constants.signals[signal] : 0);
    log('system', `Process exited with status ${exitStatus}${signal ? ` (${signal})` : ''}`);
    deps.report(status('gone', describeExit(code, signal)));
    registry.finish(start.app, start.instance, {
      status: exitStatus, signal: signal ?? '', timed_out: timedOut, stopped, started_at_ms: startedAtMs, finished_at_ms: Date.now(),
      stopped_by_agent: stoppingForAgent,
    }, start.run_id);
    if (!start.detach && !call.cancelled && !call.destroyed) {
      call.write({ exit: { status: exitStatus, signal: signal ?? '' } });
      call.end();
    }
  });
  child.on('error', (err) => log('system', `Process failed: ${err.message}`));
  const launched: Launched = { child, pty, sent };
  for (const msg of early.splice(0)) deliver(launched, msg, input);
  return launched;
}

/**
 * A one-off whose agent fetches its code before it can start it: no process yet, but `ps` lists
 * it (as Heroku shows a one-off dyno `starting`), and `ps:stop` reaches it through this status.
 */
function fetchingStatus(start: RunStart__Output, what: string, port: number): InstanceStatus {
  return {
    app: start.app, instance: start.instance, state: 'starting', pid: 0, started_at_ms: 0, restarts: 0,
    reason: `${what}; fetching its code`, release: start.release, port, command: start.command,
  };
}

/** SIGINT for 2, and so on; undefined for a number that is no signal. */
function signalName(signo: number): NodeJS.Signals | undefined {
  return (Object.keys(os.constants.signals) as NodeJS.Signals[]).find((name) => os.constants.signals[name] === signo);
}
