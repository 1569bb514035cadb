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
import type { RunInput__Output } from '../../proto/gen/cluster/run/RunInput';
import type { RunStart__Output } from '../../proto/gen/cluster/run/RunStart';
import { appNameProblem } from '../../lib/names';
import { ReadGate } from '../../lib/read-gate';
import { AnsweredRequests } from './answered-requests';
import { OneOffRegistry } from './one-off-registry';
import { ALREADY_EXISTS, INVALID_INPUT, LIMIT_EXCEEDED, NOT_FOUND, PRECONDITION_FAILED, statusWithReason } from '../../lib/status-reason';
import { PortsExhaustedError } from '../supervisor/ports';
import { isOneOffInstance } from '../../lib/one-off';
import { deliver, launch, StoppedBeforeStart, type Launched, type RunCall, type RunDeps } from './one-off-launch';
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
          reserved = true;
          void launch(deps, registry, call, started, early, input).then(
            (c) => {
              child = c;
              input.release('launching');
            },
            (err: unknown) => {
              const now = Date.now();
              const stoppedFirst = err instanceof StoppedBeforeStart ? err : undefined;
              const message = stoppedFirst ? stoppedFirst.message : `could not start: ${(err as Error).message}`;
              if (stoppedFirst) {
                deps.logger.info({ app, instance, reason: stoppedFirst.reason }, 'one-off process stopped before it started');
                deps.logs.append(app, instance, 'system', `Not started: ${message}`);
              } else {
                deps.logger.warn({ err: (err as Error).message, app }, 'one-off process could not start');
              }
              registry.finish(app, instance, { status: 127, signal: '', stopped: stoppedFirst?.requested ?? false, started_at_ms: now, finished_at_ms: now }, runId);
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
