/**
 * cluster ps:stop TYPE.N|run.N and ps:kill (SIGKILL), as on Heroku: a formation instance is
 * replaced (scale down to stop it for good), a one-off process ends.
 */
import type { Command } from 'commander';
import { callUnary } from '../../lib/grpc-call';
import { isProcessType, parseInstanceName } from '../../lib/names';
import { resolveApp } from '../client';
import { appOption, withApi } from '../command-kit';
import { UserError } from '../errors';

export function registerPsStop(program: Command): void {
  for (const kill of [false, true]) {
    appOption(program.command(`${kill ? 'ps:kill' : 'ps:stop'} <instance>`))
      .description(
        kill
          ? 'SIGKILL an instance (worker.3: started again at once) or a one-off process (run.7: ends)'
          : 'stop an instance (worker.3: replaced, as on Heroku) or end a one-off process (run.7)',
      )
      .action(async (instance: string, opts: { app?: string }, cmd: Command) =>
        withApi(cmd, async (api) => {
          const app = resolveApp(opts.app);
          if (!parseInstanceName(instance)) {
            const hint = isProcessType(instance) ? ` (to restart every ${instance}: \`cluster ps:restart ${instance} -a ${app}\`)` : '';
            throw new UserError(`\`${instance}\` is not an instance: give one like worker.3 or run.7${hint}`);
          }
          const reply = await callUnary(api, 'StopInstance', { app, instance, kill });
          const where = reply.host ? ` on ${reply.host}` : '';
          if (reply.one_off) console.log(`${kill ? 'Killed' : 'Stopping'} ${instance} of ${app}${where}.`);
          else if (kill) console.log(`Killed ${instance} of ${app}${where} (SIGKILL); it starts again at once.`);
          else console.log(`Stopping ${instance} of ${app}${where}; it is replaced (scale ${parseInstanceName(instance)!.type} down to stop it for good).`);
        }),
      );
  }
}
