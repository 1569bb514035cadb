/** cluster ps:boot-timeout TYPE=SECONDS …: how long an instance may take to accept connections on $PORT. */
import type { Command } from 'commander';
import { bootTimeoutProblem, DEFAULT_BOOT_TIMEOUT_SECONDS } from '../../lib/boot-timeout';
import { callUnary } from '../../lib/grpc-call';
import { resolveApp } from '../client';
import { appOption, printJson, withApi } from '../command-kit';
import { UserError } from '../errors';
import { isProcessType } from '../../lib/names';

function parseSetting(arg: string): { type: string; seconds: number } {
  const [type = '', value] = arg.split(/=(.*)/s);
  const seconds = value === undefined ? undefined : /^(\d+)s?$/.exec(value)?.[1];
  if (!isProcessType(type) || seconds === undefined) throw new UserError(`${arg}: expected TYPE=SECONDS (whole seconds), e.g. web=120`);
  const setting = { type, seconds: Number(seconds) };
  const problem = bootTimeoutProblem(setting.type, setting.seconds);
  if (problem) throw new UserError(problem);
  return setting;
}

export function registerBootTimeout(program: Command): void {
  appOption(program.command('ps:boot-timeout [settings...]'))
    .description(
      `how long instances of a type may take to accept connections on $PORT before they count as crashed (TYPE=SECONDS; web: ${DEFAULT_BOOT_TIMEOUT_SECONDS} s by default; another type gets a port check with it, 0 removes it); with none, print them`,
    )
    .option('--json', 'with no settings: print the boot timeouts set as JSON (milliseconds)')
    .action(async (args: string[], opts: { app?: string; json?: boolean }, cmd: Command) =>
      withApi(cmd, async (api) => {
        const app = resolveApp(opts.app);
        const settings = args.map(parseSetting);
        const reply =
          settings.length > 0 ? await callUnary(api, 'SetBootTimeout', { app, settings }) : { settings: (await callUnary(api, 'GetTypeSettings', { app })).boot_timeouts };
        if (settings.length === 0 && opts.json) return printJson({ app, bootTimeoutMs: Object.fromEntries(reply.settings.map((s) => [s.type, s.seconds * 1000])) });
        // web always has a boot check: its default is named next to the types set (it was left out then).
        const set = reply.settings.map((s) => `${s.type}=${s.seconds}s`);
        if (!reply.settings.some((s) => s.type === 'web')) set.push(`web=${DEFAULT_BOOT_TIMEOUT_SECONDS}s (default)`);
        const all = set.join(' ');
        console.log(`Boot timeouts of ${app}: ${all}.${settings.length > 0 ? ' They apply from the next start.' : ''}`);
      }),
    );
}
