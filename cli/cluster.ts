/**
 * The `cluster` CLI: every user command, and the daemons' entry points. `cluster` (dist/cli/main.js)
 * runs this file from the CLI's bundle (scripts/build-cli.ts) for a command, and as tsc compiled it
 * (dist/cli/cluster.js) for `dev`; the agent and the control plane run from bundles of their own
 * (cli/agent-program.ts, cli/control-plane-program.ts). `node dist/cli/cluster.js` runs any
 * command unbundled.
 */
import { modulesFor, runsDaemon } from './command-index';
import { rootProgram } from './root-program';
import { separateRunCommand } from './run-args';
import { unknownHelpTarget } from './help-args';

async function main(): Promise<void> {
  const program = rootProgram();
  // Only the module of the command being run is loaded (all of them for help and completion).
  for (const register of await Promise.all(modulesFor(process.argv.slice(2)).map((m) => m.load()))) register(program);
  const args = unknownHelpTarget(program, separateRunCommand(process.argv.slice(2)));
  await program.parseAsync([...process.argv.slice(0, 2), ...args]);
}

/**
 * A command has done its work: it exits once its output is written, within a second, even when
 * something it no longer needs would hold Node's event loop — a connection to a frozen replica
 * (it accepted TCP, never answers) that it failed over from stays open for as long as that lasts.
 */
function exitOnceFlushed(): void {
  const check = () => {
    if (process.stdout.writableLength === 0 && process.stderr.writableLength === 0) process.exit();
    setTimeout(check, 50).unref();
  };
  setTimeout(check, 1_000).unref();
}

/**
 * A reader that went away (`cluster config:get BIG | head -c 10`): the command ends quietly with
 * 0, as `cluster logs | head` does, not with an unhandled 'error' event and its stack. Commands
 * that handle it themselves (`logs`, `run`: they stop what they follow first) add their own
 * listener, and this one then leaves it to them.
 */
function quietOnClosedStdout(): void {
  const onError = (err: NodeJS.ErrnoException) => {
    if (process.stdout.listenerCount('error') > 1) return;
    if (err.code === 'EPIPE') process.exit(0);
    process.stderr.write(`error: cannot write the output: ${err.message}\n`);
    process.exit(1);
  };
  process.stdout.on('error', onError);
}

const daemon = runsDaemon(process.argv.slice(2));
if (!daemon) quietOnClosedStdout();
main()
  .catch(async (err: unknown) => (await import('./command-kit.js')).fail(err))
  .finally(() => {
    if (!daemon) exitOnceFlushed();
  });
