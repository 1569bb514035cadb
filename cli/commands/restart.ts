/** cluster ps:restart [TYPE or TYPE.N] (also `restart`), and with --wait until every process it restarts is up again. */
import type { Command } from 'commander';
import { callUnary } from '../../lib/grpc-call';
import { parseInstanceName } from '../../lib/names';
import { resolveApp } from '../client';
import { appOption, withApi } from '../command-kit';
import { UserError } from '../errors';
import { timeoutMs } from '../parse';
import { waitForFormation } from '../wait-formation';

export function registerRestart(program: Command): void {
  for (const name of ['ps:restart', 'restart']) {
    appOption(program.command(`${name} [target]`))
      .description(name === 'ps:restart' ? 'restart every instance, one process type, or one instance (worker.3), rolling' : 'same as ps:restart')
      .option('--wait', 'show progress until every instance it restarts runs a new process that is up (or fail with the reason)')
      .option('--timeout <duration>', 'with --wait: give up after this long (seconds, or 30s, 5m, 1h)', '600')
      .action(async (target: string | undefined, opts: { app?: string; wait?: boolean; timeout: string }, cmd: Command) =>
        withApi(cmd, async (api) => {
          const app = resolveApp(opts.app);
          const timeout = timeoutMs(opts.timeout);
          const reply = await callUnary(api, 'Restart', { app, target: target ?? '' });
          const what = target ? `${target} of ${app}` : `every instance of ${app}`;
          console.log(`Restarting ${what} (${reply.instances.length} instance${reply.instances.length === 1 ? '' : 's'}).`);
          if (!opts.wait || reply.instances.length === 0) return;
          if (!reply.token) throw new UserError('the control plane is of an older version that does not report restarts: cannot --wait (the restart goes on)');
          // Every instance of the app, of the type, or the one instance (waitForFormation picks it out): restarted and up.
          const types = target && !parseInstanceName(target) ? [target] : undefined;
          await waitForFormation(api, app, types, timeout, { restart: { target: target ?? '', token: reply.token } });
        }),
      );
  }
}
