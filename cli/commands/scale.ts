/**
 * cluster ps:scale [TYPE=N | TYPE+N | TYPE-N …] [--wait] (also `scale`). Without changes it
 * prints the formation as pasteable changes (`web=1 worker=3`), as `heroku ps:scale` does.
 */
import type { Command } from 'commander';
import { callUnary } from '../../lib/grpc-call';
import type { ClusterApiClient } from '../../proto/gen/cluster/api/ClusterApi';
import { resolveApp } from '../client';
import { appOption, printJson, withApi } from '../command-kit';
import { UserError } from '../errors';
import { timeoutMs } from '../parse';
import { parseScaleArgs, ScaleArgError } from '../scale-args';
import { waitForFormation } from '../wait-formation';
import { processTypeNames } from '../../lib/release-phase';
import { heldBackBy, newestWithCode } from '../release-held-back';

interface ScaleOptions {
  app?: string;
  wait?: boolean;
  timeout: string;
  json?: boolean;
}

export function registerScale(program: Command): void {
  for (const name of ['ps:scale', 'scale']) {
    appOption(program.command(`${name} [changes...]`))
      .description(
        name === 'ps:scale'
          ? 'set the formation: TYPE=N, or change it: TYPE+N, TYPE-N; with no changes, print it (web=1 worker=3)'
          : 'same as ps:scale',
      )
      .option('--wait', 'show progress until every instance is up (or fail with the reason)')
      .option('--timeout <duration>', 'with --wait: give up after this long (seconds, or 30s, 5m, 1h)', '300')
      .option('--json', 'with no changes: print the formation as JSON')
      .action(async (args: string[], opts: ScaleOptions, cmd: Command) =>
        withApi(cmd, async (api) => {
          const app = resolveApp(opts.app);
          if (args.length === 0) return printFormation(api, app, opts.json === true);
          let changes;
          try {
            changes = parseScaleArgs(args);
          } catch (err) {
            if (err instanceof ScaleArgError) throw new UserError(err.message);
            throw err;
          }
          const timeout = timeoutMs(opts.timeout);
          const reply = await callUnary(api, 'Scale', { app, changes: changes.map((c) => ({ ...c, relative: c.relative === true })) });
          const summary = reply.formation
            .filter((f) => changes.some((c) => c.type === f.type))
            .map((f) => `${f.type}=${f.count}`)
            .join(' ');
          console.log(`Scaled ${app} to ${summary}.`);
          if (opts.wait) await waitForFormation(api, app, changes.map((c) => c.type), timeout);
        }),
      );
  }
}

/** Every process type of the current release with its count, e.g. `web=1 worker=3` (0 when never scaled). */
async function printFormation(api: ClusterApiClient, app: string, json: boolean): Promise<void> {
  const ps = await callUnary(api, 'Ps', { app, states_only: true });
  const counts = new Map(ps.formation.map((f) => [f.type, f.count]));
  // The release command is not scaled: `release=0` would not paste back.
  const formation = processTypeNames(ps.process_types).map((type) => ({ type, count: counts.get(type) ?? 0 }));
  if (json) return printJson({ app: ps.app, formation: Object.fromEntries(formation.map((f) => [f.type, f.count])) });
  if (formation.length === 0) return void console.log(await noneRunning(api, ps.app, ps.formation));
  console.log(formation.map((f) => `${f.type}=${f.count}`).join(' '));
}

/**
 * Why an app has no process types to print: nothing deployed yet, or a release deployed whose
 * release phase holds it back (a first deploy whose `release:` command failed had this say
 * "deploy a Procfile", though one was deployed and scaled): then the counts kept for it.
 */
async function noneRunning(api: ClusterApiClient, app: string, counts: Array<{ type: string; count: number }>): Promise<string> {
  const newest = await newestWithCode(api, app);
  if (!newest) return `${app} has no process types yet: deploy a Procfile with \`cluster deploy DIR -a ${app}\`.`;
  const kept = counts.filter((c) => c.count > 0).map((c) => `${c.type}=${c.count}`).join(' ');
  return `${kept ? `${kept} (kept for it) — ` : ''}${app} runs no release yet: ${heldBackBy(newest)} (\`cluster releases:info v${newest.version} -a ${app}\`).`;
}
