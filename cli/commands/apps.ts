/** cluster apps, apps:create, apps:destroy. */
import type { Command } from 'commander';
import { staleJson, warnIfStale } from '../stale';
import { callUnary } from '../../lib/grpc-call';
import { appNameProblem } from '../../lib/names';
import { describeLiveRelease } from '../../lib/release-phase';
import { printJson, withApi } from '../command-kit';
import { UserError } from '../errors';
import { renderTable } from '../output/table';
import type { AppInfo__Output } from '../../proto/gen/cluster/api/AppInfo';

export function registerApps(program: Command): void {
  program
    .command('apps')
    .description('list apps')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) =>
      withApi(cmd, async (api) => {
        const { apps, stale } = await callUnary(api, 'ListApps', {});
        if (opts.json) {
          printJson({
            apps: apps.map((a) => ({
              name: a.name,
              release: a.release || null,
              running: runningOf(a) || null,
              newestPhase: a.newest_phase || null,
              newestPhaseReason: a.newest_phase_reason || null,
            })),
            stale: staleJson(stale),
          });
        } else if (apps.length === 0) console.log('No apps yet. Create one with `cluster apps:create NAME`.');
        else console.log(renderTable(['name', 'release'], apps.map((a) => [a.name, releaseCell(a)])));
        warnIfStale(stale);
      }),
    );

  program
    .command('apps:create <name>')
    .description('create an app (lowercase letters, digits, dashes; 1–30 characters)')
    .action(async (name: string, _opts: unknown, cmd: Command) =>
      withApi(cmd, async (api) => {
        const problem = appNameProblem(name);
        if (problem) throw new UserError(problem);
        await callUnary(api, 'CreateApp', { name });
        console.log(`Created ${name}. Deploy it with \`cluster deploy DIR -a ${name}\`.`);
      }),
    );

  program
    .command('apps:destroy [name]')
    .description('stop every instance and remove the app (name it, or -a APP; confirm with --confirm APP)')
    .option('-a, --app <name>', 'the app (instead of NAME)')
    .option('--confirm <name>', 'the app name again, to confirm')
    .action(async (named: string | undefined, opts: { app?: string; confirm?: string }, cmd: Command) =>
      withApi(cmd, async (api) => {
        if (named !== undefined && opts.app !== undefined && named !== opts.app) {
          throw new UserError(`two apps named: \`${named}\` and -a ${opts.app}; give one`);
        }
        // Never CLUSTER_APP: the app to destroy is always written out.
        const name = named ?? opts.app;
        if (name === undefined) throw new UserError('which app? `cluster apps:destroy -a APP --confirm APP`');
        const problem = appNameProblem(name);
        if (problem) throw new UserError(problem);
        if (opts.confirm !== undefined && opts.confirm !== name) {
          throw new UserError(`--confirm ${opts.confirm} does not match \`${name}\`: nothing was destroyed; confirm with --confirm ${name}`);
        }
        if (opts.confirm !== name) {
          throw new UserError(`destroying \`${name}\` stops all its instances and deletes its releases: confirm with --confirm ${name}`);
        }
        await callUnary(api, 'DestroyApp', { name });
        console.log(`Destroyed ${name}.`);
      }),
    );
}

/** The release the app's instances run (a control plane of an older version says only the newest). */
function runningOf(a: AppInfo__Output): number {
  return a.running ?? a.release;
}

/** The release that runs, and the newest one when it is held back (describeLiveRelease). */
function releaseCell(a: AppInfo__Output): string {
  return describeLiveRelease({ release: a.release, running: runningOf(a), newestPhase: a.newest_phase, newestPhaseReason: a.newest_phase_reason }, '-');
}
