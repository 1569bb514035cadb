/** cluster restart [TYPE or TYPE.N]. */
import type { Command } from 'commander';
import { callUnary } from '../../lib/grpc-call';
import { resolveApp } from '../client';
import { appOption, withApi } from '../command-kit';

export function registerRestart(program: Command): void {
  appOption(program.command('restart [target]'))
    .description('restart every instance, one process type, or one instance (worker.3)')
    .action(async (target: string | undefined, opts: { app?: string }, cmd: Command) =>
      withApi(cmd, async (api) => {
        const app = resolveApp(opts.app);
        const reply = await callUnary(api, 'Restart', { app, target: target ?? '' });
        const what = target ? `${target} of ${app}` : `every instance of ${app}`;
        console.log(`Restarting ${what} (${reply.instances.length} instance${reply.instances.length === 1 ? '' : 's'}).`);
      }),
    );
}
