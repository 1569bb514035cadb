/** cluster ps:grace TYPE=SECONDS …: how long a stopping process gets between SIGTERM and SIGKILL. */
import type { Command } from 'commander';
import { callUnary } from '../../lib/grpc-call';
import { resolveApp } from '../client';
import { appOption, printJson, withApi } from '../command-kit';
import { UserError } from '../errors';
import { isProcessType } from '../../lib/names';

function parseGrace(arg: string): { type: string; seconds: number } {
  const [type = '', value] = arg.split(/=(.*)/s);
  const seconds = value === undefined ? undefined : /^(\d+(?:\.\d+)?)s?$/.exec(value)?.[1];
  if (!isProcessType(type) || seconds === undefined) throw new UserError(`${arg}: expected TYPE=SECONDS, e.g. worker=60`);
  return { type, seconds: Number(seconds) };
}

export function registerGrace(program: Command): void {
  appOption(program.command('ps:grace [settings...]'))
    .description('set the stop grace period of process types (TYPE=SECONDS; 0 = the agent default, 30 s); with none, print them')
    .option('--json', 'with no settings: print the grace periods set as JSON (milliseconds)')
    .action(async (args: string[], opts: { app?: string; json?: boolean }, cmd: Command) =>
      withApi(cmd, async (api) => {
        const app = resolveApp(opts.app);
        const settings = args.map(parseGrace);
        const reply =
          settings.length > 0 ? await callUnary(api, 'SetGrace', { app, settings }) : { settings: (await callUnary(api, 'GetTypeSettings', { app })).grace };
        if (settings.length === 0 && opts.json) return printJson({ app, graceMs: Object.fromEntries(reply.settings.map((s) => [s.type, s.seconds * 1000])) });
        const set = reply.settings.map((s) => `${s.type}=${s.seconds}s`).join(' ');
        const all = set ? `${set}; every other type the agent's default` : 'agent defaults for every type';
        console.log(`Grace periods of ${app}: ${all}.${settings.length > 0 ? ' They apply from the next stop.' : ''}`);
      }),
    );
}
