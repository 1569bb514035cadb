/** cluster ps:logs TYPE=blocking|non-blocking …: whether a type's output waits for the log writer or drops lines. */
import type { Command } from 'commander';
import { DEFAULT_LOG_MODE, logModeProblem } from '../../lib/log-mode';
import { callUnary } from '../../lib/grpc-call';
import { resolveApp } from '../client';
import { appOption, printJson, withApi } from '../command-kit';
import { UserError } from '../errors';

function parseSetting(arg: string): { type: string; mode: string } {
  const m = /^([^=]+)=(.*)$/.exec(arg);
  if (!m) throw new UserError(`${arg}: expected TYPE=blocking or TYPE=non-blocking, e.g. worker=non-blocking`);
  const setting = { type: m[1]!, mode: m[2]! };
  const problem = logModeProblem(setting.type, setting.mode);
  if (problem) throw new UserError(problem);
  return setting;
}

export function registerLogMode(program: Command): void {
  appOption(program.command('ps:logs [settings...]'))
    .description(
      `what a type's output does when the agent's disk writer is behind (TYPE=MODE): blocking (default: the process waits, no line is lost) or non-blocking (lines are dropped from the files, with a marker); with none, print the modes`,
    )
    .option('--json', 'with no settings: print the modes that are not the default as JSON')
    .action(async (args: string[], opts: { app?: string; json?: boolean }, cmd: Command) =>
      withApi(cmd, async (api) => {
        const app = resolveApp(opts.app);
        const settings = args.map(parseSetting);
        const reply =
          settings.length > 0 ? await callUnary(api, 'SetLogMode', { app, settings }) : { settings: (await callUnary(api, 'GetTypeSettings', { app })).log_modes };
        if (settings.length === 0 && opts.json) return printJson({ app, logModes: Object.fromEntries(reply.settings.map((s) => [s.type, s.mode])) });
        const others = reply.settings.map((s) => `${s.type}=${s.mode}`).join(' ');
        const modes = others ? `${others}; every other type ${DEFAULT_LOG_MODE}` : `every type ${DEFAULT_LOG_MODE} (default)`;
        console.log(`Log modes of ${app}: ${modes}.${settings.length > 0 ? ' They apply at once.' : ''}`);
      }),
    );
}
