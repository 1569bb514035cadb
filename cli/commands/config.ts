/** cluster config, config:get, config:set, config:unset. */
import type { Command } from 'commander';
import { callUnary } from '../../lib/grpc-call';
import { configKeyProblem } from '../../lib/names';
import { configValueProblem } from '../../lib/nul-byte';
import type { ClusterApiClient } from '../../proto/gen/cluster/api/ClusterApi';
import type { ReleaseInfo__Output } from '../../proto/gen/cluster/api/ReleaseInfo';
import { resolveApp } from '../client';
import { appOption, printJson, withApi } from '../command-kit';
import { UserError } from '../errors';
import { configVarProblem, releaseSizeProblem } from '../../lib/limits';
import { waitForFormation } from '../wait-formation';
import { timeoutMs } from '../parse';
import { noReleaseYet } from '../../lib/no-release-yet';
import { configTable, shellAssignments } from '../output/config-lines';

function checkKey(key: string, unsetting = false): string {
  const problem = configKeyProblem(key, unsetting);
  if (problem) throw new UserError(problem);
  return key;
}

/** Prints what a new release does, and follows its rollout with --wait. */
/** `wait`: follow the rollout for at most `waitMs` (`--timeout`, 10 minutes by default). */
export async function announceRelease(api: ClusterApiClient, app: string, release: ReleaseInfo__Output, wait: boolean, waitMs: number): Promise<void> {
  if (!release.slug) {
    // Config set before the first deploy (as Heroku allows): kept for it; nothing runs to restart.
    return void console.log(`${release.description}: released v${release.version} of ${app}; its first deploy runs with this config (${noReleaseYet(app)}).`);
  }
  console.log(`${release.description}: released v${release.version} of ${app}; instances restart a few at a time.`);
  if (wait) await waitForFormation(api, app, undefined, waitMs, { release: release.version });
}

export function registerConfig(program: Command): void {
  appOption(program.command('config'))
    .description('show config vars (a value with a line break, another control character, blanks at either end or a leading " as a JSON string)')
    .option('-s, --shell', 'print KEY=value lines quoted for a shell, as `heroku config -s` (nothing when there are none)')
    .option('--json', 'print JSON')
    .action(async (opts: { app?: string; json?: boolean; shell?: boolean }, cmd: Command) =>
      withApi(cmd, async (api) => {
        if (opts.json && opts.shell) throw new UserError('give --json or --shell, not both');
        const app = resolveApp(opts.app);
        const { vars } = await callUnary(api, 'GetConfig', { app });
        if (opts.json) return printJson({ app, config: vars });
        // Only assignments: the output is meant for `eval` or a file a shell sources.
        if (opts.shell) return void process.stdout.write(shellAssignments(vars).map((line) => `${line}\n`).join(''));
        if (Object.keys(vars).length === 0) return void console.log(`${app} has no config vars.`);
        for (const line of configTable(vars)) console.log(line);
      }),
    );

  appOption(program.command('config:get <key>'))
    .description('print one config var (exit 1 when unset)')
    .action(async (key: string, opts: { app?: string }, cmd: Command) =>
      withApi(cmd, async (api) => {
        const app = resolveApp(opts.app);
        const { vars } = await callUnary(api, 'GetConfig', { app });
        if (!Object.hasOwn(vars, checkKey(key, true))) throw new UserError(`${key} is not set on ${app}`);
        process.stdout.write(`${vars[key]}\n`);
      }),
    );

  appOption(program.command('config:set <pairs...>'))
    .description('set config vars (KEY=VALUE …) in a new release; instances restart rolling')
    .option('--wait', 'follow the rollout until every instance runs the new release')
    .option('--timeout <duration>', 'with --wait: give up after this long (seconds, or 30s, 5m, 1h)', '600')
    .action(async (pairs: string[], opts: { app?: string; wait?: boolean; timeout: string }, cmd: Command) =>
      withApi(cmd, async (api) => {
        const app = resolveApp(opts.app);
        const set: Record<string, string> = {};
        for (const pair of pairs) {
          const eq = pair.indexOf('=');
          if (eq <= 0) throw new UserError(`${pair.split('\n')[0]}: expected KEY=VALUE`);
          const key = checkKey(pair.slice(0, eq));
          if (Object.hasOwn(set, key)) throw new UserError(`${key} is given twice`);
          set[key] = pair.slice(eq + 1);
          const problem = configValueProblem(key, set[key]!) ?? configVarProblem(key, set[key]!);
          if (problem) throw new UserError(problem);
        }
        // The control plane checks the whole config again, with the vars already set.
        const tooLarge = releaseSizeProblem({}, set);
        if (tooLarge) throw new UserError(tooLarge);
        const waitMs = timeoutMs(opts.timeout); // checked before anything changes
        await announceRelease(api, app, await callUnary(api, 'SetConfig', { app, set, unset: [] }), opts.wait === true, waitMs);
      }),
    );

  appOption(program.command('config:unset <keys...>'))
    .description('remove config vars in a new release; instances restart rolling')
    .option('--wait', 'follow the rollout until every instance runs the new release')
    .option('--timeout <duration>', 'with --wait: give up after this long (seconds, or 30s, 5m, 1h)', '600')
    .action(async (keys: string[], opts: { app?: string; wait?: boolean; timeout: string }, cmd: Command) =>
      withApi(cmd, async (api) => {
        const app = resolveApp(opts.app);
        const unset = [...new Set(keys.map((k) => checkKey(k, true)))];
        const waitMs = timeoutMs(opts.timeout); // checked before anything changes
        // As on Heroku, unsetting what is not set is harmless: those keys are left alone (the
        // control plane decides which in the release's own transaction) and named here.
        const release = await callUnary(api, 'SetConfig', { app, set: {}, unset, skip_not_set: true });
        const notSet = release.not_set.length > 0 ? `${release.not_set.join(', ')} ${release.not_set.length === 1 ? 'was' : 'were'} not set on ${app}` : '';
        if (release.unchanged) {
          const current = release.version > 0 ? `it stays at v${release.version}` : 'it has no release';
          return void console.log(`${notSet}: nothing to change, ${current}.`);
        }
        if (notSet) console.log(`${notSet}: left alone.`);
        await announceRelease(api, app, release, opts.wait === true, waitMs);
      }),
    );
}
