/**
 * The leader's calls to agents for scheduled runs: start one detached (placed like
 * `cluster run --detach`), follow it to its exit, stop it. Outcomes come back as callbacks;
 * the cron loop records them in etcd. docs/scheduled-jobs.md.
 */
import * as grpc from '@grpc/grpc-js';
import type { AgentDialer } from '../agents/agent-dialer';
import type { AgentRecord } from '../records';
import type { ReleaseRecord } from '../records';
import type { RunExit__Output } from '../../proto/gen/cluster/run/RunExit';
import type { RunStart } from '../../proto/gen/cluster/run/RunStart';
import type { RunOutput__Output } from '../../proto/gen/cluster/run/RunOutput';
import { callUnary } from '../../lib/grpc-call';
import type { JobRecord, RunRecord } from './records';

/** How long an agent may take to say it started a run (it may fetch the slug first). */
const START_TIMEOUT_MS = 120_000;

export type StartResult =
  | { kind: 'started'; startedAtMs: number }
  /** The agent ran this name before: an earlier leader started it. */
  | { kind: 'known' }
  /** The agent refused it: it did not start. */
  | { kind: 'failed'; reason: string }
  /**
   * No answer (a deadline, a broken connection): the agent may start it yet (it fetches the slug
   * first). Asking again with the same name settles it: it starts, or the agent says it knows it.
   */
  | { kind: 'unsure'; reason: string };

/**
 * Codes of a call that failed on its way, not by the agent's refusal (an agent refuses with an
 * error of its own, which arrives as UNKNOWN: a failed start, and the reason is worth keeping).
 */
const UNSURE_CODES: ReadonlySet<number> = new Set([grpc.status.DEADLINE_EXCEEDED, grpc.status.UNAVAILABLE, grpc.status.CANCELLED]);

/** What the run's process sees besides the app's config. */
function jobEnv(job: JobRecord, run: RunRecord): Record<string, string> {
  return { CLUSTER_JOB: job.name, CLUSTER_SCHEDULED_AT: new Date(run.tickMs).toISOString() };
}

/** Starts `run` of `job` on `agent`, detached, with `release`'s code and config. */
export function startRun(dialer: AgentDialer, agent: AgentRecord, job: JobRecord, run: RunRecord, release: ReleaseRecord): Promise<StartResult> {
  return startOneOff(dialer, agent, {
    app: job.app,
    command: job.command,
    detach: true,
    instance: run.instance,
    release: release.version,
    slug: release.slug,
    env: { ...release.env, ...jobEnv(job, run) },
    timeout_ms: job.timeoutMs,
    job: job.name,
  });
}

/** Starts a detached one-off on `agent` (a scheduled run, a release command). */
export function startOneOff(dialer: AgentDialer, agent: AgentRecord, start: RunStart): Promise<StartResult> {
  return new Promise((resolve) => {
    const stream = dialer.runClient(agent).Run({ deadline: Date.now() + START_TIMEOUT_MS });
    let settled = false;
    const settle = (result: StartResult) => {
      if (settled) return;
      settled = true;
      resolve(result);
      stream.cancel();
    };
    stream.on('data', (out: RunOutput__Output) => {
      if (out.started) settle({ kind: 'started', startedAtMs: Date.now() });
    });
    stream.on('error', (err: grpc.ServiceError) => {
      const reason = `${agent.id} could not start it: ${err.details || err.message}`;
      if (err.code === grpc.status.ALREADY_EXISTS) settle({ kind: 'known' });
      else settle(UNSURE_CODES.has(err.code) ? { kind: 'unsure', reason } : { kind: 'failed', reason });
    });
    // Detached: the agent ends the stream once the process runs.
    stream.on('end', () => settle({ kind: 'unsure', reason: `${agent.id} ended the call without saying it started it` }));
    stream.write({ start });
  });
}

export interface RunWatch {
  cancel(): void;
}

/**
 * Follows a run to its end: `onExit` with its exit, `onNotStarted` when it never started (the
 * agent says why: RunExit.not_started; an older agent answers exit 127 instead), `onUnknown` when
 * the agent does not know it (restarted, or never got it), `onBroken` when the call failed (agent
 * unreachable: try again later).
 */
export function watchRun(
  dialer: AgentDialer,
  agent: AgentRecord,
  run: { app: string; instance: string; runId?: string },
  handlers: { onExit(exit: RunExit__Output): void; onNotStarted(reason: string): void; onUnknown(): void; onBroken(reason: string): void },
): RunWatch {
  const stream = dialer.runClient(agent).WatchRun({ app: run.app, instance: run.instance, run_id: run.runId ?? '' });
  let done = false;
  stream.on('data', (exit: RunExit__Output) => {
    if (done) return;
    done = true;
    if (exit.not_started) handlers.onNotStarted(`${agent.id} did not start it: ${exit.not_started}`);
    else handlers.onExit(exit);
  });
  stream.on('error', (err: grpc.ServiceError) => {
    if (done) return;
    done = true;
    if (err.code === grpc.status.NOT_FOUND) handlers.onUnknown();
    else if (err.code !== grpc.status.CANCELLED) handlers.onBroken(err.details || err.message);
  });
  stream.on('end', () => {
    if (done) return;
    done = true;
    handlers.onBroken('the agent ended the call without an exit');
  });
  return {
    cancel: () => {
      done = true;
      stream.cancel();
    },
  };
}

/** Asks the agent to stop a run (SIGTERM, SIGKILL after its grace); false when it was not running there. */
export async function stopRun(dialer: AgentDialer, agent: AgentRecord, run: { app: string; instance: string; runId?: string }, reason: string): Promise<boolean> {
  const reply = await callUnary(dialer.runClient(agent), 'StopRun', { app: run.app, instance: run.instance, reason, run_id: run.runId ?? '' }, 5_000);
  return reply.found;
}
