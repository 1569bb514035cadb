/** cluster run -- CMD …: a one-off process on some host, attached to this terminal. */
import * as os from 'node:os';
import type { Command } from 'commander';
import type { RunOutput__Output } from '../../proto/gen/cluster/run/RunOutput';
import type * as grpc from '@grpc/grpc-js';
import { resolveApp } from '../client';
import { appOption, withApi } from '../command-kit';
import { UserError } from '../errors';
import { ReadGate } from '../../lib/read-gate';
import { commandLine } from '../shell-quote';
import { attachTerminal, terminalSize } from '../run-terminal';
import { runConnectionLost } from '../run-connection-lost';

export function registerRun(program: Command): void {
  const action = async (args: string[], opts: { app?: string; detach?: boolean; tty?: boolean }, cmd: Command) =>
      withApi(cmd, async (api, server) => {
        const app = resolveApp(opts.app);
        if (args.length === 0) throw new UserError('no command: cluster run -a APP -- COMMAND');
        // A pseudo-terminal on the agent when we have a terminal to attach it to (docs/one-off-terminals.md).
        const tty = opts.tty !== false && opts.detach !== true && process.stdin.isTTY === true;
        const call = api.Run();
        call.write({
          start: {
            app, command: commandLine(args), detach: opts.detach === true,
            ...(tty ? { tty: true, window: terminalSize(), term: process.env.TERM ?? '' } : {}),
          },
        });
        let detachTerminal = () => undefined as void;

        /** Holds our stdin while the remote side is full: the process takes it slower than we read it, or not at all. */
        const input = new ReadGate(process.stdin);
        /** The agent said the process started (`Running … as run.N on HOST`). */
        let started = false;
        /** Which run, once started. */
        let running: { instance: string; host: string } | undefined;
        /** Ends the call, which stops the process (SIGTERM, then SIGKILL after a grace period) or its start, and exits as Ctrl-C does. */
        const leave = (why: string) => {
          process.stderr.write(`${why}\n`);
          call.cancel();
          process.exit(128 + os.constants.signals.SIGINT);
        };
        // Ctrl-C interrupts the remote process group; a second Ctrl-C kills it, a third leaves.
        let interrupts = 0;
        const onSigint = () => {
          interrupts += 1;
          // Its code may still be fetched, or its agent not answer: no process to interrupt yet.
          if (!started) return leave('Interrupted before the process started: it does not run.');
          // The signals queue behind input the process does not read.
          if (interrupts > 1 && input.held) return leave('The process does not read its input, so the interrupt could not reach it: stopping it.');
          // Its agent does not answer (a frozen or cut-off server): the call's end reaches it when it can.
          if (interrupts > 2) return leave('No answer to the interrupts: leaving; the agent stops the process when it learns the run\'s call ended.');
          call.write({ signal: interrupts === 1 ? 'SIGINT' : 'SIGKILL' });
        };
        if (!opts.detach) {
          process.on('SIGINT', onSigint);
          // The remote side full: read more of our stdin once it takes some (no buffering without bound).
          process.stdin.on('data', (chunk: Buffer) => {
            if (!call.write({ stdin: chunk })) input.holdUntilDrained('remote', call);
          });
          process.stdin.on('end', () => call.write({ stdin_eof: true }));
          process.stdin.on('error', () => call.write({ stdin_eof: true }));
        }

        // A reader that went away (`cluster run … | head`): the process is stopped (the agent stops
        // it when the call ends) and the command ends as a program writing to a closed pipe does.
        process.stdout.on('error', (err: NodeJS.ErrnoException) => {
          call.cancel();
          if (err.code !== 'EPIPE') process.stderr.write(`error: cannot write the output: ${err.message}\n`);
          process.exit(err.code === 'EPIPE' ? 128 + os.constants.signals.SIGPIPE : 1);
        });
        const status = await new Promise<number>((resolve, reject) => {
          let exit: number | undefined;
          call.on('data', (out: RunOutput__Output) => {
            if (out.started) {
              started = true;
              running = { instance: out.started.instance, host: out.started.host };
              const where = `${out.started.instance} on ${out.started.host}`;
              if (opts.detach) console.log(`Started ${where}; see its output with \`cluster logs -a ${app} --ps ${out.started.instance}\`.`);
              else process.stderr.write(`Running \`${commandLine(args)}\` as ${where}…\n`);
              // Raw from here on: keys go to the remote terminal, which echoes them.
              if (tty) {
                detachTerminal = attachTerminal(
                  (window) => call.write({ resize: window }),
                  (signal) => {
                    call.cancel(); // the agent stops the process
                    process.exit(128 + (os.constants.signals[signal] ?? 0));
                  },
                );
              }
            } else if (out.stdout) {
              if (!process.stdout.write(out.stdout)) {
                call.pause();
                process.stdout.once('drain', () => call.resume());
              }
            } else if (out.stderr) {
              process.stderr.write(out.stderr);
            } else if (out.exit) {
              exit = out.exit.status;
            }
          });
          call.on('end', () => resolve(exit ?? 0));
          call.on('error', (err: grpc.ServiceError) => {
            // Attached: say what became of the process (stopped), not only "run it again".
            const lost = opts.detach ? undefined : runConnectionLost(err, { server, app, started: running });
            reject(lost ?? err);
          });
        }).finally(() => {
          detachTerminal();
          process.off('SIGINT', onSigint);
          process.stdin.pause();
          process.stdin.destroy();
        });
        process.exitCode = status;
      });
  appOption(program.command('run <command...>'))
    .description("run a one-off process (run.N) with the current release and config; exits with its status. From the command's first word on, options are the command's (`cluster run -a APP ls -d /tmp`), but for a trailing `-a APP` when no app came before it")
    .option('-d, --detach', 'start it and return; its output goes to `cluster logs --ps run.N`')
    .option('--no-tty', 'use pipes even when stdin is a terminal (default: a pseudo-terminal then, like `heroku run`)')
    .action(action);
  // Heroku's `run:detached CMD` is `run --detach CMD`.
  appOption(program.command('run:detached <command...>'))
    .description('start a one-off process (run.N) and return; its output goes to `cluster logs -d run.N`')
    .action((args: string[], opts: { app?: string }, cmd: Command) => action(args, { ...opts, detach: true }, cmd));
}
