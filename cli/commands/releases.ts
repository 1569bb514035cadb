/** cluster releases, releases:info [vN], rollback [vN]. */
import type { Command } from 'commander';
import { callUnary } from '../../lib/grpc-call';
import { resolveApp } from '../client';
import { appOption, printJson, withApi } from '../command-kit';
import { formatDuration, renderTable } from '../output/table';
import { UserError } from '../errors';
import { MAX_WIRE_COUNT } from '../../lib/limits';
import { announceRelease } from './config';
import type { ReleaseInfo__Output } from '../../proto/gen/cluster/api/ReleaseInfo';
import { warnOfDroppedTypes } from '../dropped-types';
import { positiveInt, timeoutMs } from '../parse';
import { noSuchRelease } from '../../lib/no-such-release';

export function registerReleases(program: Command): void {
  appOption(program.command('releases'))
    .description('list releases, newest first')
    .option('-n, --num <count>', 'list only the newest COUNT releases (as `heroku releases -n`; default: all)')
    .option('--json', 'print JSON')
    .action(async (opts: { app?: string; json?: boolean; num?: string }, cmd: Command) =>
      withApi(cmd, async (api) => {
        const app = resolveApp(opts.app);
        const count = opts.num === undefined ? Infinity : positiveInt(opts.num, '--num');
        const releases = (await callUnary(api, 'ListReleases', { app })).releases.slice(0, count);
        if (opts.json) {
          return printJson({
            releases: releases.map((r) => ({
              version: r.version,
              description: r.description,
              createdAt: new Date(r.created_at_ms).toISOString(),
              slug: r.slug || null,
              phase: r.phase || null,
              phaseReason: r.phase_reason || null,
              deployed: runs(r),
            })),
          });
        }
        if (releases.length === 0) return void console.log(`${app} has no releases yet: \`cluster deploy DIR -a ${app}\`.`);
        const now = Date.now();
        console.log(
          renderTable(
            ['version', 'description', 'created', 'slug', 'release phase'],
            releases.map((r) => [
              `v${r.version}${runs(r) ? ' (running)' : ''}`,
              r.description,
              `${formatDuration(now - r.created_at_ms)} ago`,
              r.slug.slice(0, 12) || '-',
              r.phase_reason ? `${r.phase}: ${r.phase_reason}` : r.phase || '-',
            ]),
          ),
        );
      }),
    );

  appOption(program.command('releases:info [version]'))
    .description('one release (vN, default: the current one): description, when, slug, its release command\'s outcome, process types')
    .option('--json', 'print JSON')
    .action(async (version: string | undefined, opts: { app?: string; json?: boolean }, cmd: Command) =>
      withApi(cmd, async (api) => {
        const app = resolveApp(opts.app);
        const asked = version === undefined ? undefined : releaseVersion(version);
        const { releases } = await callUnary(api, 'ListReleases', { app });
        if (releases.length === 0) throw new UserError(`${app} has no releases yet: \`cluster deploy DIR -a ${app}\``);
        const current = releases[0]!;
        const wanted = asked ?? current.version;
        const release = releases.find((r) => r.version === wanted);
        if (!release) throw new UserError(noSuchRelease(app, wanted, current.version));
        const types = release.process_types.map((t) => ({ type: t.name, command: t.command }));
        if (opts.json) {
          return printJson({
            app,
            version: release.version,
            current: release.version === current.version,
            running: runs(release),
            description: release.description,
            createdAt: new Date(release.created_at_ms).toISOString(),
            slug: release.slug || null,
            phase: release.phase || null,
            phaseReason: release.phase_reason || null,
            processTypes: types,
          });
        }
        const when = `${new Date(release.created_at_ms).toISOString()} (${formatDuration(Date.now() - release.created_at_ms)} ago)`;
        // As `releases` marks them: the newest is not the one running while its release phase runs or after it failed.
        const marks = [release.version === current.version ? 'newest' : '', runs(release) ? 'running' : ''].filter(Boolean);
        console.log(`=== Release v${release.version} of ${app}${marks.length > 0 ? ` (${marks.join(', ')})` : ''}`);
        console.log(`Change:  ${release.description}`);
        console.log(`When:    ${when}`);
        console.log(`Slug:    ${release.slug || '(none: made before the first deploy)'}`);
        // Why the newest is not the one running, when its release command failed or still runs.
        if (release.phase) console.log(`Release phase: ${release.phase_reason ? `${release.phase}: ${release.phase_reason}` : release.phase} (\`cluster logs -a ${app} --ps release.${release.version}\`)`);
        if (types.length > 0) {
          console.log('Process types:');
          console.log(renderTable(['type', 'command'], types.map((t) => [t.type, t.command])));
        }
      }),
    );
}

/** Whether instances run this release: the deployed one, once it has code (config set before the first deploy makes a release without). */
function runs(release: ReleaseInfo__Output): boolean {
  return release.deployed && release.slug !== '';
}

export function registerRollback(program: Command): void {
  appOption(program.command('rollback [version]'))
    .description('a new release equal (code and config) to an earlier one, vN (default: the previous)')
    .option('--wait', 'follow the rollout until every instance runs the new release')
    .option('--timeout <duration>', 'with --wait: give up after this long (seconds, or 30s, 5m, 1h)', '600')
    .action(async (version: string | undefined, opts: { app?: string; wait?: boolean; timeout: string }, cmd: Command) =>
      withApi(cmd, async (api) => {
        const app = resolveApp(opts.app);
        // 0 asks for the release before the current one.
        const target = version === undefined ? 0 : releaseVersion(version);
        const waitMs = timeoutMs(opts.timeout); // checked before anything changes
        const release = await callUnary(api, 'Rollback', { app, version: target });
        // Rolled back to: the one given, else the one before the newest (the rollback is the newest now).
        const to = target > 0 ? target : release.version - 2;
        // Only a warning: the rollback is made, and a failure to look it up changes nothing.
        const earlier = await callUnary(api, 'ListReleases', { app }).then((r) => r.releases.find((x) => x.version === to), () => undefined);
        const warning = rollbackWarning(app, earlier);
        if (warning) process.stderr.write(`warning: ${warning}\n`);
        await warnOfDroppedTypes(api, app, release);
        await announceRelease(api, app, release, opts.wait === true, waitMs);
      }),
    );
}

/**
 * What to know about the release a rollback goes back to: one whose release command failed runs
 * its code now without it, since a rollback never runs the release command (as on Heroku).
 */
export function rollbackWarning(app: string, to: Pick<ReleaseInfo__Output, 'version' | 'phase' | 'phase_reason'> | undefined): string | undefined {
  if (to?.phase !== 'failed') return undefined;
  return `the release command of v${to.version} failed${to.phase_reason ? ` (${to.phase_reason})` : ''}; a rollback does not run it, so its code runs now ` +
    `without what that command did (its output: \`cluster logs -a ${app} --ps release.${to.version}\`; run it by hand with \`cluster run -a ${app} -- COMMAND\`)`;
}

/** `v7`, `V7` or `7` as a release number; larger than the wire's 32 bits would wrap around (to 0: "the previous one"). */
function releaseVersion(text: string): number {
  const match = /^[vV]?([1-9][0-9]*)$/.exec(text);
  const version = match ? Number(match[1]) : NaN;
  if (!(version <= MAX_WIRE_COUNT)) throw new UserError(`${text}: expected a release like v7${match ? ` (at most v${MAX_WIRE_COUNT})` : ''}`);
  return version;
}
