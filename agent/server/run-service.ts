/**
 * One-off processes (Heroku's one-off dynos): spawned in the release, in their own
 * process group, never restarted. Output goes back to the caller as raw bytes (paced by
 * the caller) and, line by line, into the log store; stdin and signals come in. A caller
 * that goes away stops the process unless it was started detached. Scheduled jobs start
 * detached runs, follow them with WatchRun, stop them with StopRun, and may give a timeout
 * (docs/scheduled-jobs.md). A run from a terminal gets a pseudo-terminal (pty-session.ts).
 * This file takes the calls; one-off-launch.ts starts and follows the process.
 */
import * as grpc from '@grpc/grpc-js';
import type { AgentRunHandlers } from '../../proto/gen/cluster/agent/AgentRun';
import type { RunExit } from '../../proto/gen/cluster/run/RunExit';
import type { RunInput__Output } from '../../proto/gen/cluster/run/RunInput';
import type { RunStart__Output } from '../../proto/gen/cluster/run/RunStart';
import { appNameProblem } from '../../lib/names';
import { ReadGate } from '../../lib/read-gate';
import { AnsweredRequests } from './answered-requests';
import { OneOffRegistry } from './one-off-registry';
import { ALREADY_EXISTS, INVALID_INPUT, LIMIT_EXCEEDED, NOT_FOUND, PRECONDITION_FAILED, statusWithReason } from '../../lib/status-reason';
import { PortsExhaustedError } from '../supervisor/ports';
import { isOneOffInstance } from '../../lib/one-off';
import { deliver, launch, type Launched, type RunCall, type RunDeps } from './one-off-launch';
import { StoppedBeforeStart } from './one-off-stops';
import { CallerGone } from './run-caller';
export { ONE_OFF_STOP_TIMEOUT_MS, type RunDeps } from './one-off-launch';

/** RunStart.run_id (the control plane sends a UUID). */
const MAX_RUN_ID_LENGTH = 128;
/** Input kept while the run's code is fetched; beyond it the call is paused until the process takes it. */
const MAX_EARLY_INPUT_BYTES = 1 << 20;
/** The longest delay a Node timer takes. */
const MAX_TIMER_MS = 2 ** 31 - 1;

function problemWith(start: RunStart__Output): string | undefined {
  if (appNameProblem(start.app)) return `invalid app \`${start.app}\``;
  // run.N: `cluster run` and scheduled jobs; release.N: release vN's release command.
  if (!/^(run|release)\.[1-9][0-9]*$/.test(start.instance)) return `invalid one-off instance name \`${start.instance}\``;
  if (!start.command.trim()) return 'no command to run';
  if (start.tty && start.detach) return 'a detached one-off process has no terminal';
  // setTimeout() fires at once for a delay over 2^31-1 ms: such a run would be stopped as it starts.
  if (!(start.timeout_ms >= 0 && start.timeout_ms <= MAX_TIMER_MS)) return `timeout_ms ${start.timeout_ms}: give 0 (none) to ${MAX_TIMER_MS} ms`;
  if (start.run_id.length > MAX_RUN_ID_LENGTH) return `a run id is at most ${MAX_RUN_ID_LENGTH} characters`;
  return undefined;
}

/**
 * A run whose launch ended before its spawn. Stopped on request (ps:stop, ps:kill, apps:destroy)
 * it ends there, as stopped, and is never started; for any other reason (its caller went away,
 * its code could not be fetched) it never ran and may be asked for again (one-off-registry.ts).
 */
function recordNotStarted(registry: OneOffRegistry, start: RunStart__Output, message: string, stoppedFirst: StoppedBeforeStart | undefined): void {
  const { app, instance, run_id: runId } = start;
  if (stoppedFirst?.requested) {
    const now = Date.now();
    registry.finish(app, instance, { status: 127, signal: '', stopped: true, started_at_ms: now, finished_at_ms: now }, runId);
  } else {
    registry.giveUp(app, instance, message, runId);
  }
}

/**
 * What WatchRun answers for a run that never started: its reason in `not_started`, and the 127 an
 * older control plane (which reads no `not_started`) recorded for it before.
 */
function notStartedExit(reason: string): RunExit {
  const now = Date.now();
  return { status: 127, signal: '', timed_out: false, stopped: false, started_at_ms: now, finished_at_ms: now, not_started: reason, stopped_by_agent: '' };
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
      const early: RunInput__Output[] = [];
      let earlyBytes = 0;
      const input = new ReadGate(call);

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
          void launch(deps, registry, call, started, early, input).then(
            (c) => {
              child = c;
              input.release('launching');
            },
            (err: unknown) => {
              const stoppedFirst = err instanceof StoppedBeforeStart ? err : undefined;
              const message = stoppedFirst || err instanceof CallerGone ? (err as Error).message : `could not start: ${(err as Error).message}`;
              if (stoppedFirst) deps.logger.info({ app, instance, reason: stoppedFirst.reason }, 'one-off process stopped before it started');
              else deps.logger.warn({ err: (err as Error).message, app, instance }, 'one-off process could not start');
              deps.logs.append(app, instance, 'system', `Not started: ${message}`);
              recordNotStarted(registry, started!, message, stoppedFirst);
              // A status, not destroy(): a destroyed server stream sent the caller none, and `cluster
              // run` waited for ever (no free port on a full agent, a slug that cannot be fetched),
              // a leader its deadline. A full port range has a code of its own: the run goes to another agent.
              call.emit('error', err instanceof PortsExhaustedError
                ? statusWithReason(grpc.status.RESOURCE_EXHAUSTED, message, LIMIT_EXCEEDED)
                : statusWithReason(grpc.status.FAILED_PRECONDITION, message, PRECONDITION_FAILED));
            },
          );
          return;
        }
        if (child) return deliver(child, msg, input);
        // Input that comes while the code is fetched waits for the process, up to a bound.
        early.push(msg);
        earlyBytes += msg.stdin?.length ?? 0;
        if (earlyBytes > MAX_EARLY_INPUT_BYTES) input.hold('launching');
      });
      call.on('error', () => undefined);
      // Half-closed before `start`: nothing to run, and the stream would stay open until its deadline.
      call.on('end', () => {
        if (!started) call.emit('error', statusWithReason(grpc.status.INVALID_ARGUMENT, 'the run ended before its `start` message', INVALID_INPUT));
      });
      // A caller that leaves (Ctrl-C, its CLI killed, its connection dropped) before the spawn is
      // seen by launch(), which then never starts the run, detached or not (CallerGone).
    },

    WatchRun: (call) => {
      const { app, instance, run_id: runId } = call.request;
      const cancel = registry.watch(app, instance, (end) => {
        if (call.cancelled || call.destroyed) return;
        call.write(end.exit ?? notStartedExit(end.notStarted));
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
