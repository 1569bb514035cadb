/** The `cluster` program before any command is registered: what every entry point shares. */
import { Command } from 'commander';
import { VERSION } from './version';

export function rootProgram(): Command {
  return new Command('cluster')
    .description("Heroku's process model on your own servers")
    .version(VERSION)
    .option('--server <host:port,…>', 'control-plane replicas, HOST:PORT[,HOST:PORT…] (or CLUSTER_SERVER; default: the running `cluster dev`)')
    .showHelpAfterError('(run with --help for usage)')
    // `--server` is the root's: each command's help lists it too (`agent start --help`).
    .configureHelp({ showGlobalOptions: true });
}
