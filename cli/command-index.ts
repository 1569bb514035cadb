/**
 * Which file registers which commands, so that `cluster NAME` runs only NAME's module (and the
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
  load(): Promise<Register>;
}

/**
 * Each module is a dynamic `import()` of a literal path: loaded on demand, only for the command
 * being run; the bundler (scripts/build-cli.ts) sees the path and keeps the module's code in the
 * CLI's bundle, run only when imported (docs/architecture.md, "The CLI's bundle").
 */
const mod = <M>(load: () => Promise<M>, fn: keyof M & string, names: readonly string[]): CommandModule => ({
  names,
  load: async () => (await load())[fn] as Register,
});

/** In the order of `cluster --help`. */
export const COMMAND_MODULES: readonly CommandModule[] = [
  mod(() => import('./commands/apps.js'), 'registerApps', ['apps', 'apps:create', 'apps:destroy']),
  mod(() => import('./commands/deploy.js'), 'registerDeploy', ['deploy']),
  mod(() => import('./commands/releases.js'), 'registerReleases', ['releases', 'releases:info']),
  mod(() => import('./commands/releases.js'), 'registerRollback', ['rollback']),
  mod(() => import('./commands/config.js'), 'registerConfig', ['config', 'config:get', 'config:set', 'config:unset']),
  mod(() => import('./commands/scale.js'), 'registerScale', ['ps:scale', 'scale']),
  mod(() => import('./commands/ps.js'), 'registerPs', ['ps']),
  mod(() => import('./commands/restart.js'), 'registerRestart', ['ps:restart', 'restart']),
  mod(() => import('./commands/ps-stop.js'), 'registerPsStop', ['ps:stop', 'ps:kill']),
  mod(() => import('./commands/grace.js'), 'registerGrace', ['ps:grace']),
  mod(() => import('./commands/boot-timeout.js'), 'registerBootTimeout', ['ps:boot-timeout']),
  mod(() => import('./commands/log-mode.js'), 'registerLogMode', ['ps:logs']),
  mod(() => import('./commands/placement.js'), 'registerPlacement', ['ps:place']),
  mod(() => import('./commands/logs.js'), 'registerLogs', ['logs']),
  mod(() => import('./commands/run.js'), 'registerRun', ['run', 'run:detached']),
  mod(() => import('./commands/schedule.js'), 'registerSchedule', ['schedule', 'schedule:add', 'schedule:remove', 'schedule:run']),
  mod(() => import('./commands/tokens.js'), 'registerTokens', ['agents:token', 'operators:token']),
  mod(() => import('./commands/login.js'), 'registerLogin', ['login']),
  mod(() => import('./commands/doctor.js'), 'registerDoctor', ['doctor']),
  mod(() => import('./commands/dashboard.js'), 'registerDashboard', ['dashboard']),
  mod(() => import('./commands/agents.js'), 'registerAgents', ['agents', 'agents:drain', 'agents:activate', 'agents:web', 'agents:remove']),
  mod(() => import('./commands/agent.js'), 'registerAgent', ['agent']),
  mod(() => import('./commands/control-plane.js'), 'registerControlPlane', ['control-plane']),
  mod(() => import('./commands/dev.js'), 'registerDev', ['dev']),
  mod(() => import('./commands/completion.js'), 'registerCompletion', ['completion']),
];

/** Global options that take a value (`--server HOST:PORT`), to skip when looking for the command. */
export const GLOBAL_OPTIONS_WITH_VALUE = new Set(['--server']);

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

/** Commands whose process may run a daemon, for days: not from the commands' bundle (cli/main.ts). */
const DAEMON_COMMANDS = new Set(['agent', 'control-plane', 'dev']);

/** Whether `args` may run a daemon (`agent …`, `control-plane …`, `dev`). */
export function runsDaemon(args: readonly string[]): boolean {
  const word = commandWord(args);
  return word !== undefined && DAEMON_COMMANDS.has(word);
}

/**
 * The name of the code cache for `args` (cli/code-cache.ts), after what the run compiles: its
 * command (its help apart), `version`, or `all` when every module loads.
 */
export function cacheName(args: readonly string[]): string {
  const modules = modulesFor(args);
  if (modules.length === 0) return 'version';
  if (modules === COMMAND_MODULES) return 'all';
  const help = args.includes('--help') || args.includes('-h');
  return `${commandWord(args)!}${help ? '-help' : ''}`;
}
