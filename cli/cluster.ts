/**
 * The `cluster` CLI: every user command, and the daemons' entry points. `cluster` (dist/cli/main.js)
 * runs this file from the CLI's bundle (scripts/build-cli.ts) for a command, and as tsc compiled it
 * (dist/cli/cluster.js) for a daemon; `node dist/cli/cluster.js` runs any command unbundled.
 */
import { Command } from 'commander';
import { modulesFor } from './command-index';
import { VERSION } from './version';

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const program = new Command('cluster')
    .description("Heroku's process model on your own servers")
    .version(VERSION)
    .option('--server <host:port,…>', 'control-plane replicas, HOST:PORT[,HOST:PORT…] (or CLUSTER_SERVER; default: the running `cluster dev`)')
    .showHelpAfterError('(run with --help for usage)');
  // Only the module of the command being run is loaded (all of them for help and completion).
  for (const register of await Promise.all(modulesFor(args).map((m) => m.load()))) register(program);
  await program.parseAsync(process.argv);
}

main().catch(async (err: unknown) => (await import('./command-kit.js')).fail(err));
