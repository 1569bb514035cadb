/**
 * `cluster run`: picks a host for a one-off process, names it run.N, and relays the
 * conversation between the CLI and that agent (stdin and signals one way, output and
 * the exit status the other). Either side going away ends the other.
 */
import * as grpc from '@grpc/grpc-js';
import { noReleaseYet } from '../../lib/no-release-yet';
import { ReadGate } from '../../lib/read-gate';
import type { ClusterApiHandlers } from '../../proto/gen/cluster/api/ClusterApi';
import type { RunInput, RunInput__Output } from '../../proto/gen/cluster/run/RunInput';
import type { RunOutput, RunOutput__Output } from '../../proto/gen/cluster/run/RunOutput';
import type { RunStart__Output } from '../../proto/gen/cluster/run/RunStart';
import { AgentLostError, FailedPreconditionError, InvalidArgumentError } from '../errors';
import { nulByte } from '../../lib/nul-byte';
import { reasonOf } from '../../lib/status-reason';
import { pickAgent } from './one-off';
import type { AgentRecord } from '../records';
import { nextRunNumber } from '../state/run-counter';
import type { ApiContext } from '../rpc/context';
import { toServiceError } from '../rpc/status';
import type { AgentDialer } from '../agents/agent-dialer';
import { transportReason } from '../../lib/transport-reason';

/**
 * Copies only the member a oneof message carries: decoded messages may hold defaults
 * of the other members, and re-encoding those would change which member is set.
 */
function input(msg: RunInput__Output): RunInput {
  if (msg.msg === 'stdin') return { stdin: msg.stdin };
  if (msg.msg === 'stdin_eof') return { stdin_eof: true };
  if (msg.msg === 'signal') return { signal: msg.signal };
  if (msg.msg === 'resize') return { resize: msg.resize };
  return {};
}

function output(msg: RunOutput__Output): RunOutput {
  if (msg.msg === 'started') return { started: msg.started };
  if (msg.msg === 'stdout') return { stdout: msg.stdout };
  if (msg.msg === 'stderr') return { stderr: msg.stderr };
  if (msg.msg === 'exit') return { exit: msg.exit };
  return {};
}

/**
 * What the CLI is told when the agent's stream ends in an error. The agent's own refusals (a
 * reason came with them: stopped before it started, no free port) are the run's answer, exit 1.
 * A stream that broke without one (the agent died, its connection dropped) is a failure, exit 3:
 * before the agent answered, it does not start the run once it learns the call ended
 * (agent/server/run-service.ts); after, the exit is unknown.
 */
function runFailure(agentId: string, instance: string, err: grpc.ServiceError, unanswered: boolean): Error {
  if (reasonOf(err) !== undefined) return new FailedPreconditionError(`the one-off process on ${agentId} failed: ${err.details || err.message}`);
  const why = transportReason(err.details || err.message);
  if (unanswered) return new AgentLostError(`${agentId} was lost before it started ${instance} (${why}): it does not run; run it again`);
  return new AgentLostError(`${agentId} was lost while ${instance} ran (${why}): its exit is unknown; \`cluster ps\` shows whether it still runs`);
}

/** The largest terminal side accepted, in rows or columns. */
const MAX_WINDOW_SIDE = 10_000;

/** How long a run whose agent cannot be reached is tried again (an agent restarting registers within this). */
const RECONNECT_FOR_MS = 10_000;
const RECONNECT_PAUSE_MS = 250;
/** Input kept for a second try at most; beyond it a run whose agent was never reached fails. */
const MAX_UNANSWERED_BYTES = 1 << 20;
/** Input kept while the host is chosen; beyond it the CLI's call is paused until the agent takes it. */
const MAX_EARLY_BYTES = 1 << 20;

function inputBytes(msg: RunInput): number {
  return msg.stdin ? Buffer.byteLength(msg.stdin as Buffer) : 16;
}

/** grpc-js's answer for a call whose channel never connected: nothing reached the agent. */
function neverConnected(err: grpc.ServiceError): boolean {
  return err.code === grpc.status.UNAVAILABLE && /^No connection established/.test(err.details ?? '');
}

function validWindow(w: { rows: number; cols: number }): boolean {
  const ok = (n: number) => Number.isInteger(n) && n >= 1 && n <= MAX_WINDOW_SIDE;
  return ok(w.rows) && ok(w.cols);
}

export function runRelay(ctx: ApiContext, dialer: AgentDialer): ClusterApiHandlers['Run'] {
  return (call) => {
    let upstream: grpc.ClientDuplexStream<RunInput, RunOutput__Output> | undefined;
    let finished = false;
    const early: RunInput[] = [];
    let earlyBytes = 0;
    // The CLI's call is paused while the agent's stream is full (a process that does not read
    // its stdin), so that its input waits in the CLI rather than in this process.
    const gate = new ReadGate(call);
    /** The hold of the stream input goes to now: one per dial, as a stream given up on never drains. */
    let upstreamHold = '';
    let dials = 0;
    /** Agents that refused the run for want of a free port. */
    const tried = new Set<string>();

    const fail = (err: unknown) => {
      if (finished) return;
      finished = true;
      upstream?.cancel();
      call.emit('error', toServiceError(err, ctx.logger));
    };

    const begin = async (start: RunStart__Output) => {
      if (!start.command.trim()) throw new InvalidArgumentError('no command to run: `cluster run -a APP -- COMMAND`');
      const nul = nulByte(start.command);
      if (nul) throw new InvalidArgumentError(`the command has ${nul}`);
      if (start.tty && start.detach) throw new InvalidArgumentError('a detached one-off process has no terminal: drop --detach, or run it without a terminal');
      if (start.tty && start.window && !validWindow(start.window)) {
        throw new InvalidArgumentError(`invalid window size ${start.window.rows}×${start.window.cols}: rows and columns are 1–${MAX_WINDOW_SIDE}`);
      }
      const app = await ctx.store.getApp(start.app);
      // What the app's instances run: not a newer release whose release command failed or still runs.
      const release = (await ctx.store.runningAndNewest(app.name, app)).running;
      if (!release?.slug) throw new FailedPreconditionError(noReleaseYet(app.name));
      const agent = pickAgent(ctx.view);
      const instance = `run.${await nextRunNumber(ctx.client, ctx.keys, app)}`;
      ctx.logger.info({ app: app.name, instance, agent: agent.id, detach: start.detach }, 'one-off process');
      if (finished) return;
      const first: RunInput = {
        start: {
          app: app.name, command: start.command, detach: start.detach, instance, release: release.version, slug: release.slug, env: release.env,
          ...(start.tty ? { tty: true, window: start.window, term: start.term } : {}),
        },
      };
      dial(agent, first, Date.now() + RECONNECT_FOR_MS);
    };

    /**
     * Relays through agent `agent`. An agent whose address the control plane has not heard yet
     * (it restarted; its new run registers a moment after taking over) is never reached: the run
     * did not start there, so it goes to the agent picked again then, with the input it was sent.
     */
    const dial = (agent: AgentRecord, first: RunInput, retryUntilMs: number) => {
      const stream = dialer.runClient(agent).Run();
      upstream = stream;
      gate.release(upstreamHold);
      upstreamHold = `upstream ${++dials}`;
      // grpc-js may end a stream after its error: that end is not the run's.
      let broke = false;
      let room = stream.write(first);
      for (const msg of unanswered ?? []) room = stream.write(msg);
      if (!room) gate.holdUntilDrained(upstreamHold, stream);
      for (const msg of early.splice(0)) send(msg);
      earlyBytes = 0;
      gate.release('early');
      if (clientEnded) stream.end();
      stream.on('data', (out: RunOutput__Output) => {
        if (finished || upstream !== stream) return;
        unanswered = undefined;
        if (!call.write(output(out))) {
          stream.pause();
          call.once('drain', () => stream.resume());
        }
      });
      stream.on('end', () => {
        if (finished || broke || upstream !== stream) return;
        finished = true;
        call.end();
      });
      stream.on('error', (err: grpc.ServiceError) => {
        broke = true;
        if (finished || upstream !== stream) return;
        if (unanswered && neverConnected(err) && Date.now() < retryUntilMs) {
          ctx.logger.warn({ agent: agent.id, address: agent.address, why: err.details }, 'one-off process: the agent cannot be reached at its address; picking a host again');
          setTimeout(() => {
            if (finished) return;
            try {
              dial(pickAgent(ctx.view), first, retryUntilMs);
            } catch (e) {
              fail(e);
            }
          }, RECONNECT_PAUSE_MS);
          return;
        }
        if (unanswered && err.code === grpc.status.RESOURCE_EXHAUSTED) {
          // Its one-offs hold every port (the pick counts instances only): another agent, if one is left.
          tried.add(agent.id);
          let next: AgentRecord | undefined;
          try {
            next = pickAgent(ctx.view, tried);
          } catch {
            next = undefined; // none ready any more: this agent's refusal is the answer
          }
          if (next) {
            ctx.logger.info({ agent: agent.id, next: next.id, why: err.details }, 'one-off process: the agent has no free port; trying another');
            dial(next, first, retryUntilMs);
            return;
          }
        }
        fail(runFailure(agent.id, first.start!.instance!, err, unanswered !== undefined));
      });
    };

    /** Input for the agent; kept until it answers, in case its connection never comes up (bounded). */
    let unanswered: RunInput[] | undefined = [];
    let unansweredBytes = 0;
    const send = (msg: RunInput) => {
      if (!upstream!.write(msg)) gate.holdUntilDrained(upstreamHold, upstream!);
      if (!unanswered) return;
      unansweredBytes += inputBytes(msg);
      if (unansweredBytes <= MAX_UNANSWERED_BYTES) unanswered.push(msg);
      else unanswered = undefined;
    };

    let begun = false;
    let clientEnded = false;
    call.on('data', (msg: RunInput__Output) => {
      if (finished) return;
      if (!begun) {
        if (!msg.start) return fail(new InvalidArgumentError('the first message of a run must be `start`'));
        begun = true;
        begin(msg.start).catch(fail);
        return;
      }
      // Input that arrives while the host is being chosen waits for it.
      if (upstream) return send(input(msg));
      const msgIn = input(msg);
      early.push(msgIn);
      earlyBytes += inputBytes(msgIn);
      if (earlyBytes > MAX_EARLY_BYTES) gate.hold('early');
    });
    call.on('end', () => {
      clientEnded = true;
      // Half-closed before `start`: nothing to run, and the stream would stay open until its deadline.
      if (!begun) return fail(new InvalidArgumentError('the run ended before its `start` message'));
      upstream?.end();
    });
    // The CLI went away: the agent stops the process (unless it was detached).
    call.on('cancelled', () => {
      finished = true;
      upstream?.cancel();
    });
  };
}
