#!/usr/bin/env node
/** `cluster`: every user command, and the daemons' entry points. */
import { Command } from 'commander';
import { registerAgent } from './commands/agent';
import { registerAgents } from './commands/agents';
import { registerApps } from './commands/apps';
import { registerControlPlane } from './commands/control-plane';
import { registerDeploy } from './commands/deploy';
import { registerDev } from './commands/dev';
import { registerDashboard } from './commands/dashboard';
import { registerGrace } from './commands/grace';
import { registerBootTimeout } from './commands/boot-timeout';
import { registerLogMode } from './commands/log-mode';
import { registerPlacement } from './commands/placement';
import { registerLogs } from './commands/logs';
import { registerRun } from './commands/run';
import { registerSchedule } from './commands/schedule';
import { registerTokens } from './commands/tokens';
import { registerLogin } from './commands/login';
import { registerDoctor } from './commands/doctor';
import { registerCompletion } from './commands/completion';
import { registerPs } from './commands/ps';
import { registerPsStop } from './commands/ps-stop';
import { registerReleases, registerRollback } from './commands/releases';
import { registerConfig } from './commands/config';
import { registerRestart } from './commands/restart';
import { registerScale } from './commands/scale';
import { fail } from './command-kit';
import { VERSION } from './version';

const program = new Command('cluster')
  .description("Heroku's process model on your own servers")
  .version(VERSION)
  .option('--server <host:port,…>', 'control-plane replicas, HOST:PORT[,HOST:PORT…] (or CLUSTER_SERVER; default: the running `cluster dev`)')
  .showHelpAfterError('(run with --help for usage)');

for (const register of [
  registerApps,
  registerDeploy,
  registerReleases,
  registerRollback,
  registerConfig,
  registerScale,
  registerPs,
  registerRestart,
  registerPsStop,
  registerGrace,
  registerBootTimeout,
  registerLogMode,
  registerPlacement,
  registerLogs,
  registerRun,
  registerSchedule,
  registerTokens,
  registerLogin,
  registerDoctor,
  registerDashboard,
  registerAgents,
  registerAgent,
  registerControlPlane,
  registerDev,
  registerCompletion,
]) {
  register(program);
}

program.parseAsync(process.argv).catch((err: unknown) => fail(err));
