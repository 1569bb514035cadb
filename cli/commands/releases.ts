/** cluster releases. */
import type { Command } from 'commander';
import { callUnary } from '../../lib/grpc-call';
import { resolveApp } from '../client';
import { appOption, printJson, withApi } from '../command-kit';
import { formatDuration, renderTable } from '../output/table';
import { UserError } from '../errors';
import { announceRelease } from './config';

export function registerReleases(program: Command): void {
  appOption(program.command('releases'))
    .description('list releases, newest first')
    .option('--json', 'print JSON')
    .action(async (opts: { app?: string; json?: boolean }, cmd: Command) =>
      withApi(cmd, async (api) => {
        const app = resolveApp(opts.app);
        const { releases } = await callUnary(api, 'ListReleases', { app });
        if (opts.json) {
          return printJson({
            releases: releases.map((r) => ({
              version: r.version,
              description: r.description,
              createdAt: new Date(r.created_at_ms).toISOString(),
              slug: r.slug,
              phase: r.phase || null,
              phaseReason: r.phase_reason || null,
              deployed: r.deployed,
            })),
          });
        }
        if (releases.length === 0) return void console.log(`${app} has no releases yet: \`cluster deploy DIR -a ${app}\`.`);
        const now = Date.now();
        console.log(
          renderTable(
            ['version', 'description', 'created', 'slug', 'release phase'],
            releases.map((r) => [
              `v${r.version}${r.deployed ? ' (running)' : ''}`,
              r.description,
              `${formatDuration(now - r.created_at_ms)} ago`,
              r.slug.slice(0, 12),
              r.phase === 'failed' ? `failed: ${r.phase_reason}` : r.phase || '-',
            ]),
          ),
        );
      }),
    );
}

export function registerRollback(program: Command): void {
  appOption(program.command('rollback [version]'))
    .description('a new release equal (code and config) to an earlier one, vN (default: the previous)')
    .option('--wait', 'follow the rollout until every instance runs the new release')
    .action(async (version: string | undefined, opts: { app?: string; wait?: boolean }, cmd: Command) =>
      withApi(cmd, async (api) => {
        const app = resolveApp(opts.app);
        const match = version === undefined ? ['', '0'] : /^v?([1-9][0-9]*)$/.exec(version);
        if (!match) throw new UserError(`${version}: expected a release like v7`);
        await announceRelease(api, app, await callUnary(api, 'Rollback', { app, version: Number(match[1]) }), opts.wait === true);
      }),
    );
}
