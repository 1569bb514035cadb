#!/usr/bin/env node
/** `cluster`: every user command, and the daemons' entry points. */
import { Command } from 'commander';
import { modulesFor } from './command-index';
import { VERSION } from './version';

const program = new Command('cluster')
  .description("Heroku's process model on your own servers")
  .version(VERSION)
  .option('--server <host:port,…>', 'control-plane replicas, HOST:PORT[,HOST:PORT…] (or CLUSTER_SERVER; default: the running `cluster dev`)')
  .showHelpAfterError('(run with --help for usage)');

// Only the module of the command being run is loaded (all of them for help and completion).
for (const module of modulesFor(process.argv.slice(2))) module.load()(program);

program.parseAsync(process.argv).catch((err: unknown) => (require('./command-kit') as typeof import('./command-kit')).fail(err));
