/**
 * `cluster run`: picks a host for a one-off process, names it run.N, and relays the
 * conversation between the CLI and that agent (stdin and signals one way, output and
 * the exit status the other). Either side going away ends the other.
 */
import * as grpc from '@grpc/grpc-js';
import type { ClusterApiHandlers } from '../../proto/gen/cluster/api/ClusterApi';
import type { RunInput, RunInput__Output } from '../../proto/gen/cluster/run/RunInput';
import type { RunOutput, RunOutput__Output } from '../../proto/gen/cluster/run/RunOutput';
import type { RunStart__Output } from '../../proto/gen/cluster/run/RunStart';
import { FailedPreconditionError, InvalidArgumentError } from '../errors';
import { pickAgent } from './one-off';
import { nextRunNumber } from '../state/run-counter';
import type { ApiContext } from '../rpc/context';
import { toServiceError } from '../rpc/status';
import type { AgentDialer } from '../agents/agent-dialer';

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

/** The largest terminal side accepted, in rows or columns. */
const MAX_WINDOW_SIDE = 10_000;

function validWindow(w: { rows: number; cols: number }): boolean {
  const ok = (n: number) => Number.isInteger(n) && n >= 1 && n <= MAX_WINDOW_SIDE;
  return ok(w.rows) && ok(w.cols);
}

export function runRelay(ctx: ApiContext, dialer: AgentDialer): ClusterApiHandlers['Run'] {
  return (call) => {
    let upstream: grpc.ClientDuplexStream<RunInput, RunOutput__Output> | undefined;
    let finished = false;
    const early: RunInput__Output[] = [];

    const fail = (err: unknown) => {
      if (finished) return;
      finished = true;
      upstream?.cancel();
      call.emit('error', toServiceError(err, ctx.logger));
    };

    const begin = async (start: RunStart__Output) => {
      if (!start.command.trim()) throw new InvalidArgumentError('no command to run: `cluster run -a APP -- COMMAND`');
      if (start.tty && start.detach) throw new InvalidArgumentError('a detached one-off process has no terminal: drop --detach, or run it without a terminal');
      if (start.tty && start.window && !validWindow(start.window)) {
        throw new InvalidArgumentError(`invalid window size ${start.window.rows}×${start.window.cols}: rows and columns are 1–${MAX_WINDOW_SIDE}`);
      }
      const app = await ctx.store.getApp(start.app);
      // What the app's instances run: not a newer release whose release command failed or still runs.
      const release = (await ctx.store.runningAndNewest(app.name, app)).running;
      if (!release?.slug) throw new FailedPreconditionError(`app \`${app.name}\` has no code yet: deploy it first`);
      const agent = pickAgent(ctx.view);
      const instance = `run.${await nextRunNumber(ctx.client, ctx.keys, app.name)}`;
      ctx.logger.info({ app: app.name, instance, agent: agent.id, detach: start.detach }, 'one-off process');
      if (finished) return;
      const stream = dialer.runClient(agent).Run();
      upstream = stream;
      stream.write({
        start: {
          app: app.name, command: start.command, detach: start.detach, instance, release: release.version, slug: release.slug, env: release.env,
          ...(start.tty ? { tty: true, window: start.window, term: start.term } : {}),
        },
      });
      for (const msg of early.splice(0)) stream.write(input(msg));
      if (clientEnded) stream.end();
      stream.on('data', (out: RunOutput__Output) => {
        if (finished) return;
        if (!call.write(output(out))) {
          stream.pause();
          call.once('drain', () => stream.resume());
        }
      });
      stream.on('end', () => {
        if (finished) return;
        finished = true;
        call.end();
      });
      stream.on('error', (err: grpc.ServiceError) => {
        if (finished) return;
        fail(new FailedPreconditionError(`the one-off process on ${agent.id} failed: ${err.details || err.message}`));
      });
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
      if (upstream) upstream.write(input(msg));
      else early.push(msg);
    });
    call.on('end', () => {
      clientEnded = true;
      upstream?.end();
    });
    // The CLI went away: the agent stops the process (unless it was detached).
    call.on('cancelled', () => {
      finished = true;
      upstream?.cancel();
    });
  };
}
