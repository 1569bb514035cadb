/**
 * One-off processes (Heroku's one-off dynos): spawned in the release, in their own
 * process group, never restarted. Output goes back to the caller as raw bytes (paced by
 * the caller) and, line by line, into the log store; stdin and signals come in. A caller
 * that goes away stops the process unless it was started detached. Scheduled jobs start
 * detached runs, follow them with WatchRun, stop them with StopRun, and may give a timeout
 * (docs/scheduled-jobs.md). A run from a terminal gets a pseudo-terminal (pty-session.ts).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import * as os from 'node:os';
import * as grpc from '@grpc/grpc-js';
import type { AgentRunHandlers } from '../../proto/gen/cluster/agent/AgentRun';
import type { InstanceStatus } from '../../proto/gen/cluster/agent/InstanceStatus';
import type { RunInput__Output } from '../../proto/gen/cluster/run/RunInput';
import type { RunOutput } from '../../proto/gen/cluster/run/RunOutput';
import type { RunStart__Output } from '../../proto/gen/cluster/run/RunStart';
import type { Logger } from '../../lib/log';
import { appNameProblem } from '../../lib/names';
import type { LogStore } from '../logs/log-store';
import type { ReleaseCache } from '../releases/release-cache';
import { LineSplitter } from '../supervisor/line-splitter';
import type { PortAllocator } from '../supervisor/ports';
import { signalGroup } from '../supervisor/process-group';
import { isPlainCommand, shellScript } from '../supervisor/shell-script';
import { describeExit } from '../supervisor/restart-policy';
import { buildEnv } from '../instance-env';
import { AnsweredRequests } from './answered-requests';
import { OneOffRegistry, type StopReason } from './one-off-registry';
import { PtySession, ptyCommand, termOrDefault, windowOrDefault } from './pty-session';
import { ALREADY_EXISTS, INVALID_INPUT, NOT_FOUND, PRECONDITION_FAILED, statusWithReason } from '../../lib/status-reason';
import { isOneOffInstance } from '../../lib/one-off';

const SIGNALS: ReadonlySet<string> = new Set(['SIGINT', 'SIGTERM', 'SIGKILL', 'SIGHUP', 'SIGQUIT']);
/** A caller that went away, a timeout, a StopRun: SIGTERM, then SIGKILL after this long. */
const ABANDON_GRACE_MS = 5_000;
/** After the process exits: how long output pipes still held by something outside its group are read (as for instances, child-process.ts). */
const PIPE_CLOSE_TIMEOUT_MS = 2_000;
/** How long an agent that stops waits for its one-offs: their grace, the pipes, a margin. */
export const ONE_OFF_STOP_TIMEOUT_MS = ABANDON_GRACE_MS + PIPE_CLOSE_TIMEOUT_MS + 1_000;

const STOP_LINES: Record<Exclude<StopReason, 'kill'>, (timeoutMs: number) => string> = {
  timeout: (timeoutMs) => `Stopping process: it ran longer than its timeout (${timeoutMs} ms)`,
  request: () => 'Stopping process on request',
  'app-destroyed': () => 'Stopping process: its app was destroyed',
  'agent-stop': () => 'Stopping process: the agent is stopping with its instances',
  'agent-restart': () => 'Stopping process: the agent is restarting, and one-off processes are not handed over',
};

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
  /** SIGKILL to a formation instance's process (`ps:kill`), which its supervisor restarts; false when none runs. */
  killInstance(app: string, instance: string): boolean;
  logger: Logger;
}

/** RunStart.run_id (the control plane sends a UUID). */
const MAX_RUN_ID_LENGTH = 128;

type RunCall = grpc.ServerDuplexStream<RunInput__Output, RunOutput>;

function problemWith(start: RunStart__Output): string | undefined {
  if (appNameProblem(start.app)) return `invalid app \`${start.app}\``;
  // run.N: `cluster run` and scheduled jobs; release.N: release vN's release command.
  if (!/^(run|release)\.[1-9][0-9]*$/.test(start.instance)) return `invalid one-off instance name \`${start.instance}\``;
  if (!start.command.trim()) return 'no command to run';
  if (start.tty && start.detach) return 'a detached one-off process has no terminal';
  if (start.run_id.length > MAX_RUN_ID_LENGTH) return `a run id is at most ${MAX_RUN_ID_LENGTH} characters`;
  return undefined;
}

export function runService(deps: RunDeps, registry = new OneOffRegistry()): AgentRunHandlers {
  // A retried `ps:kill` signals once (answered-requests.ts).
  const stopAnswers = new AnsweredRequests<boolean>();
  const stopRun = (app: string, instance: string, reason: string, kill: boolean, appDestroyed: boolean, runId: string): boolean => {
    if (appDestroyed && !instance) {
      const stopped = registry.stopApp(app);
      if (stopped.length > 0) deps.logger.info({ app, instances: stopped, reason }, 'stopping the one-off processes of a destroyed app');
      return stopped.length > 0;
    }
    if (registry.stop(app, instance, kill, runId)) {
      deps.logger.info({ app, instance, reason, kill }, 'stopping a one-off process on request');
      return true;
    }
    // `ps:kill` of a formation instance: killed here, restarted by its supervisor.
    const killed = kill && !isOneOffInstance(instance) && deps.killInstance(app, instance);
    if (killed) deps.logger.info({ app, instance, reason }, 'killed an instance on request');
    return killed;
  };
  return {
    Run: (call: RunCall) => {
      let child: Launched | undefined;
      let started: RunStart__Output | undefined;
      /** This call reserved its run (it may be launching it). */
      let reserved = false;
      const early: RunInput__Output[] = [];

      call.on('data', (msg: RunInput__Output) => {
        if (!started) {
          if (!msg.start) return void call.emit('error', statusWithReason(grpc.status.INVALID_ARGUMENT, 'the first message of a run must be `start`', INVALID_INPUT));
          started = msg.start;
          const problem = problemWith(started);
          if (problem) return void call.emit('error', statusWithReason(grpc.status.INVALID_ARGUMENT, problem, INVALID_INPUT));
          const { app, instance, run_id: runId } = started;
          if (registry.stopping) {
            return void call.emit('error', statusWithReason(grpc.status.FAILED_PRECONDITION, `${deps.agentId} is stopping; start the process again once it is back, or on another agent`, PRECONDITION_FAILED));
          }
          // A run is started once: a leader that resumes a claimed run after a failover
          // (docs/scheduled-jobs.md) learns here that its predecessor started it already. The
          // same name under another run id is another run (one-off-registry.ts).
          if (!registry.reserve(app, instance, runId)) {
            return void call.emit('error', statusWithReason(grpc.status.ALREADY_EXISTS, `${app}/${instance} was started on this agent already`, ALREADY_EXISTS));
          }
          reserved = true;
          void launch(deps, registry, call, started, early).then(
            (c) => (child = c),
            (err: unknown) => {
              const now = Date.now();
              if (err instanceof StoppedBeforeStart) {
                deps.logger.info({ app, instance, reason: err.reason }, 'one-off process stopped before it started');
                deps.logs.append(app, instance, 'system', `Not started: ${err.message}`);
                const stopped = err.reason === 'request' || err.reason === 'kill' || err.reason === 'app-destroyed';
                registry.finish(app, instance, { status: 127, signal: '', stopped, started_at_ms: now, finished_at_ms: now }, runId);
                // A status: destroy() ends nothing the caller hears, and it waited for its deadline.
                call.emit('error', statusWithReason(grpc.status.FAILED_PRECONDITION, err.message, PRECONDITION_FAILED));
                return;
              }
              deps.logger.warn({ err: (err as Error).message, app }, 'one-off process could not start');
              registry.finish(app, instance, { status: 127, signal: '', started_at_ms: now, finished_at_ms: now }, runId);
              // A status, not destroy(): a destroyed server stream sent the caller none, and `cluster
              // run` waited for ever (no free port on a full agent, a slug that cannot be fetched).
              call.emit('error', statusWithReason(grpc.status.FAILED_PRECONDITION, `could not start: ${(err as Error).message}`, PRECONDITION_FAILED));
            },
          );
          return;
        }
        if (!child) early.push(msg);
        else deliver(child, msg);
      });
      call.on('error', () => undefined);
      // The caller left (Ctrl-C, its CLI killed) while the code was being fetched: an attached run
      // then never starts, as one running would be stopped (launch() watches the call from its spawn).
      call.on('cancelled', () => {
        if (reserved && !child && started && !started.detach) registry.stop(started.app, started.instance, false, started.run_id);
      });
    },

    WatchRun: (call) => {
      const { app, instance, run_id: runId } = call.request;
      const cancel = registry.watch(app, instance, (exit) => {
        if (call.cancelled || call.destroyed) return;
        call.write(exit);
        call.end();
      }, runId);
      if (!cancel) {
        call.emit('error', statusWithReason(grpc.status.NOT_FOUND, `no one-off process ${app}/${instance} on ${deps.agentId}`, NOT_FOUND));
        return;
      }
      call.on('cancelled', cancel);
      call.on('error', cancel);
    },

    StopRun: (call, callback) => {
      const { app, instance, reason, kill, app_destroyed: appDestroyed, run_id: runId, request_id: requestId } = call.request;
      const answered = requestId ? stopAnswers.get(requestId) : undefined;
      if (answered !== undefined) return callback(null, { found: answered });
      const found = stopRun(app, instance, reason, kill, appDestroyed, runId);
      if (requestId) stopAnswers.remember(requestId, found);
      callback(null, { found });
    },
  };
}

/** A stop came while the run's code was being fetched: its command never started. */
class StoppedBeforeStart extends Error {
  override name = 'StoppedBeforeStart';
  constructor(readonly reason: StopReason) {
    super(`${STOPPED_BEFORE_START[reason]} before it started, while its code was being fetched`);
  }
}

const STOPPED_BEFORE_START: Record<StopReason, string> = {
  request: 'stopped on request',
  kill: 'killed on request',
  timeout: 'stopped by its timeout',
  'app-destroyed': 'stopped: its app was destroyed',
  'agent-stop': 'stopped: the agent is stopping with its instances',
  'agent-restart': 'stopped: the agent is restarting',
};

/** A started one-off process, and its terminal when it has one. */
interface Launched {
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

/** Passes stdin, end of stdin, signals and window sizes to the process. */
function deliver(launched: Launched, msg: RunInput__Output): void {
  const { child, pty } = launched;
  if (msg.stdin) child.stdin.write(msg.stdin);
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

async function launch(
  deps: RunDeps,
  registry: OneOffRegistry,
  call: RunCall,
  start: RunStart__Output,
  early: RunInput__Output[],
): Promise<Launched> {
  // Its code stays unpacked until it ends (slug-janitor.ts): no assignment names a one-off's
  // slug, and its working directory may leave it (`cd /`), so neither keeps it.
  const unhold = deps.releases.hold(start.slug);
  let port = 0;
  let child: ChildProcessWithoutNullStreams;
  const tty = start.tty && !start.detach;
  try {
    // The slug may take a while: a stop that comes meanwhile (`ps:stop`, a leader that gave the
    // run up, the agent stopping) ends the launch at once, and the command never starts. The
    // fetch goes on for whoever else needs the slug.
    const stopped = new Promise<never>((_, reject) =>
      registry.onStopWhileLaunching(start.app, start.instance, (reason) => reject(new StoppedBeforeStart(reason)), start.run_id));
    const cwd = await Promise.race([deps.releases.ensure(start.slug), stopped]);
    if (registry.stopping) throw new Error(`${deps.agentId} is stopping`);
    port = await deps.ports.allocate();
    // Nothing is awaited from here to the spawn: a stop either came by now or finds the process.
    const stopReason = registry.stopWhileLaunching(start.app, start.instance, start.run_id);
    if (stopReason) throw new StoppedBeforeStart(stopReason);
    const env = buildEnv({ app: start.app, instance: start.instance, release: start.release }, start.env, port, deps);
    if (tty) {
      const { file, args } = ptyCommand(start.command, windowOrDefault(start.window), env.SHELL);
      child = spawn(file, args, { cwd, env: { ...env, TERM: termOrDefault(start.term), SHELL: '/bin/sh' }, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
    } else {
      child = spawn('/bin/sh', ['-c', oneOffScript(start.command)], { cwd, env, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
    }
  } catch (err) {
    // Not started (spawn() itself throws on a config value with a NUL byte): nothing ends it later.
    unhold();
    if (port) deps.ports.release(port);
    throw err;
  }
  const sent = new Set<number>();
  const pty = tty && child.pid ? new PtySession(child.pid) : undefined;
  const pid = child.pid ?? 0;
  const startedAtMs = Date.now();
  const log = (stream: 'stdout' | 'stderr' | 'system', line: string, cut = false) =>
    deps.logs.append(start.app, start.instance, stream, line, cut);
  const what = start.job ? `scheduled job \`${start.job}\`` : start.instance.startsWith('release.') ? `release command of v${start.release}` : 'one-off process';
  const status = (state: string, reason: string): InstanceStatus => ({
    app: start.app, instance: start.instance, state, pid, started_at_ms: startedAtMs, restarts: 0,
    reason, release: start.release, port, command: start.command,
  });
  const running = () => child.exitCode === null && child.signalCode === null && pid !== 0;
  const terminate = () => {
    sendToGroup({ sent }, pid, 'SIGTERM');
    setTimeout(() => signalGroup(pid, 'SIGKILL'), ABANDON_GRACE_MS).unref();
  };
  const abandon = () => {
    if (start.detach || !running()) return;
    terminate();
  };
  let timedOut = false;
  let stopped = false;
  let stoppingForAgent = false;
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
    else if (why === 'agent-stop' || why === 'agent-restart') stoppingForAgent = true;
    else stopped = true;
    log('system', STOP_LINES[why](start.timeout_ms));
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
    }, start.run_id);
    if (!start.detach && !call.cancelled && !call.destroyed) {
      call.write({ exit: { status: exitStatus, signal: signal ?? '' } });
      call.end();
    }
  });
  child.on('error', (err) => log('system', `Process failed: ${err.message}`));
  const launched: Launched = { child, pty, sent };
  for (const msg of early.splice(0)) deliver(launched, msg);
  return launched;
}

/** SIGINT for 2, and so on; undefined for a number that is no signal. */
function signalName(signo: number): NodeJS.Signals | undefined {
  return (Object.keys(os.constants.signals) as NodeJS.Signals[]).find((name) => os.constants.signals[name] === signo);
}
