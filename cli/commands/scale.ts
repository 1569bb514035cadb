/** cluster scale TYPE=N … [--wait] (also ps:scale). */
import type { Command } from 'commander';
import { callUnary } from '../../lib/grpc-call';
import { resolveApp } from '../client';
import { appOption, withApi } from '../command-kit';
import { UserError } from '../errors';
import { parseScaleArgs, ScaleArgError } from '../scale-args';
import { waitForFormation } from '../wait-formation';

export function registerScale(program: Command): void {
  for (const name of ['scale', 'ps:scale']) {
    appOption(program.command(`${name} <changes...>`))
      .description(name === 'scale' ? 'set the formation: TYPE=N …' : 'same as scale')
      .option('--wait', 'show progress until every instance is up (or fail with the reason)')
      .option('--timeout <seconds>', 'with --wait: give up after this long', '300')
      .action(async (args: string[], opts: { app?: string; wait?: boolean; timeout: string }, cmd: Command) =>
        withApi(cmd, async (api) => {
          const app = resolveApp(opts.app);
          let changes;
          try {
            changes = parseScaleArgs(args);
          } catch (err) {
            if (err instanceof ScaleArgError) throw new UserError(err.message);
            throw err;
          }
          const timeout = Number(opts.timeout);
          if (!Number.isFinite(timeout) || timeout <= 0) throw new UserError(`--timeout ${opts.timeout}: give a number of seconds`);
          const reply = await callUnary(api, 'Scale', { app, changes });
          const summary = reply.formation
            .filter((f) => changes.some((c) => c.type === f.type))
            .map((f) => `${f.type}=${f.count}`)
            .join(' ');
          console.log(`Scaled ${app} to ${summary}.`);
          if (opts.wait) await waitForFormation(api, app, changes.map((c) => c.type), timeout * 1000);
        }),
      );
  }
}
