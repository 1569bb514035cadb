/** cluster ps:restart [TYPE or TYPE.N] (also `restart`). */
import type { Command } from 'commander';
import { callUnary } from '../../lib/grpc-call';
import { resolveApp } from '../client';
import { appOption, withApi } from '../command-kit';

export function registerRestart(program: Command): void {
  for (const name of ['ps:restart', 'restart']) {
    appOption(program.command(`${name} [target]`))
      .description(name === 'ps:restart' ? 'restart every instance, one process type, or one instance (worker.3), rolling' : 'same as ps:restart')
      .action(async (target: string | undefined, opts: { app?: string }, cmd: Command) =>
        withApi(cmd, async (api) => {
          const app = resolveApp(opts.app);
          const reply = await callUnary(api, 'Restart', { app, target: target ?? '' });
          const what = target ? `${target} of ${app}` : `every instance of ${app}`;
          console.log(`Restarting ${what} (${reply.instances.length} instance${reply.instances.length === 1 ? '' : 's'}).`);
        }),
      );
  }
}
