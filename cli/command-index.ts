/**
 * Which file registers which commands, so that `cluster NAME` loads only NAME's module (and the
 * libraries it uses) instead of every command's: a CLI start costs a fraction of loading gRPC,
 * etcd3, x509, tar, yaml… all at once (bench/RESULTS.md, "CLI start").
 * test/unit/command-index.test.ts checks this list against what each file really registers.
 */
import type { Command } from 'commander';

export type Register = (program: Command) => void;

export interface CommandModule {
  /** The top-level command names (and aliases) the file registers. */
  names: readonly string[];
  /** The file's register function, loaded on call. */
  load(): Register;
}

// `require` (not `import`): loaded on demand, synchronously, only for the command being run.
const mod = (file: string, fn: string, names: readonly string[]): CommandModule => ({
  names,
  load: () => (require(`./commands/${file}`) as Record<string, Register>)[fn]!,
});

/** In the order of `cluster --help`. */
export const COMMAND_MODULES: readonly CommandModule[] = [
  mod('apps', 'registerApps', ['apps', 'apps:create', 'apps:destroy']),
  mod('deploy', 'registerDeploy', ['deploy']),
  mod('releases', 'registerReleases', ['releases', 'releases:info']),
  mod('releases', 'registerRollback', ['rollback']),
  mod('config', 'registerConfig', ['config', 'config:get', 'config:set', 'config:unset']),
  mod('scale', 'registerScale', ['ps:scale', 'scale']),
  mod('ps', 'registerPs', ['ps']),
  mod('restart', 'registerRestart', ['ps:restart', 'restart']),
  mod('ps-stop', 'registerPsStop', ['ps:stop', 'ps:kill']),
  mod('grace', 'registerGrace', ['ps:grace']),
  mod('boot-timeout', 'registerBootTimeout', ['ps:boot-timeout']),
  mod('log-mode', 'registerLogMode', ['ps:logs']),
  mod('placement', 'registerPlacement', ['ps:place']),
  mod('logs', 'registerLogs', ['logs']),
  mod('run', 'registerRun', ['run', 'run:detached']),
  mod('schedule', 'registerSchedule', ['schedule', 'schedule:add', 'schedule:remove', 'schedule:run']),
  mod('tokens', 'registerTokens', ['agents:token', 'operators:token']),
  mod('login', 'registerLogin', ['login']),
  mod('doctor', 'registerDoctor', ['doctor']),
  mod('dashboard', 'registerDashboard', ['dashboard']),
  mod('agents', 'registerAgents', ['agents', 'agents:drain', 'agents:activate', 'agents:web']),
  mod('agent', 'registerAgent', ['agent']),
  mod('control-plane', 'registerControlPlane', ['control-plane']),
  mod('dev', 'registerDev', ['dev']),
  mod('completion', 'registerCompletion', ['completion']),
];

/** Global options that take a value (`--server HOST:PORT`), to skip when looking for the command. */
const GLOBAL_OPTIONS_WITH_VALUE = new Set(['--server']);

/** The command word of `args` (argv without node and the script), or undefined (none, or `help`). */
export function commandWord(args: readonly string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') return undefined;
    if (GLOBAL_OPTIONS_WITH_VALUE.has(arg)) {
      i++;
      continue;
    }
    if (arg.startsWith('-')) continue;
    return arg;
  }
  return undefined;
}

/**
 * The modules to register for `args`: only the one holding its command when there is one, else
 * every module (help, completion scripts, unknown commands and their suggestions need them all).
 */
export function modulesFor(args: readonly string[]): readonly CommandModule[] {
  const word = commandWord(args);
  // `cluster --version` needs none; `cluster` alone prints the help of all.
  if (word === undefined) return args.includes('-V') || args.includes('--version') ? [] : COMMAND_MODULES;
  if (word === 'completion') return COMMAND_MODULES;
  const found = COMMAND_MODULES.filter((m) => m.names.includes(word));
  return found.length > 0 ? found : COMMAND_MODULES;
}
