/** cluster deploy [DIR]: pack, upload, and create a release from the Procfile. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import type { ClusterApiClient } from '../../proto/gen/cluster/api/ClusterApi';
import type { ReleaseInfo__Output } from '../../proto/gen/cluster/api/ReleaseInfo';
import { checkEnvName, readDefinition } from '../definition';
import { resolveApp } from '../client';
import { appOption, withApi } from '../command-kit';
import { describeFailure, EXIT_UNREACHABLE, UserError } from '../errors';
import { callUnary } from '../../lib/grpc-call';
import { NOT_FOUND, reasonOf } from '../../lib/status-reason';
import { describePack, makeSlugFolder, packDirectory } from '../pack';
import { uploadIdleTimeoutMs, uploadSlug } from '../slug-upload';
import { waitForFormation } from '../wait-formation';
import { timeoutMs } from '../parse';
import { warnOfDroppedTypes } from '../dropped-types';
import { DEFAULT_RELEASE_TIMEOUT_SECONDS, describeTypes, RELEASE_PHASE_TYPE, releaseTimeoutProblem } from '../../lib/release-phase';

function parseReleaseTimeout(text: string | undefined): number {
  if (text === undefined) return 0;
  const seconds = /^\d+$/.test(text) ? Number(text) : NaN;
  const problem = seconds === 0 ? `--release-timeout 0: give whole seconds from 1` : releaseTimeoutProblem(seconds);
  if (problem) throw new UserError(Number.isNaN(seconds) ? `--release-timeout ${text}: expected whole seconds, e.g. 300` : problem);
  return seconds;
}

const EXIT_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];

/**
 * Packs `dir` and uploads it as a new release of `app`. With `exitOnSignal` (the `deploy`
 * command, which owns the process) SIGINT and SIGTERM remove the slug and exit meanwhile.
 */
export async function deployDirectory(
  api: ClusterApiClient,
  app: string,
  dir: string,
  opts: { env?: string; message?: string; quiet?: boolean; releaseTimeout?: number; exitOnSignal?: boolean; idleTimeoutMs?: number; server?: string } = {},
): Promise<ReleaseInfo__Output> {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new UserError(`${dir} is not a directory`);
  const idleTimeoutMs = opts.idleTimeoutMs ?? uploadIdleTimeoutMs();
  const definition = readDefinition(dir, opts.env);
  if (!opts.quiet) for (const warning of definition.warnings) process.stderr.write(`warning: ${warning}\n`);
  // The slug (up to hundreds of MiB) is removed however the deploy ends: done, failed, or, for
  // the `deploy` command, interrupted (exit 130 on SIGINT, 143 on SIGTERM, as a shell reports it).
  const folder = makeSlugFolder();
  const remove = () => fs.rmSync(folder, { recursive: true, force: true });
  const interrupted = (signal: NodeJS.Signals) => {
    remove();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  if (opts.exitOnSignal) for (const signal of EXIT_SIGNALS) process.on(signal, interrupted);
  try {
    const slug = await packDirectory(dir, folder);
    if (!opts.quiet) process.stderr.write(`${describePack(slug)}\nUploading ${path.resolve(dir)} to ${app}…\n`);
    return await uploadSlug(
      api,
      {
        app,
        procfile: definition.procfileText,
        procfile_name: definition.name,
        description: opts.message ?? '',
        size: String(slug.size),
        release_timeout_s: opts.releaseTimeout ?? 0,
        first_formation: definition.firstFormation ?? {},
      },
      slug.file,
      slug.size,
      { idleTimeoutMs, server: opts.server },
    );
  } finally {
    for (const signal of EXIT_SIGNALS) process.off(signal, interrupted);
    remove();
  }
}

export function registerDeploy(program: Command): void {
  appOption(program.command('deploy [dir]'))
    .description('upload DIR (default .) as a new release; its Procfile declares the process types')
    .option('--env <name>', 'use Procfile.<name> (or Procfile_<name>) instead of Procfile (or docker-compose.yml)')
    .option('-m, --message <text>', 'release description')
    .option('--wait', 'follow the release command and the rollout until every instance runs the new release; exit 1 if either fails')
    .option('--timeout <duration>', 'with --wait: give up after this long (seconds, or 30s, 5m, 1h)', '600')
    .option('--release-timeout <seconds>', `how long the Procfile's \`release:\` command may run (default ${DEFAULT_RELEASE_TIMEOUT_SECONDS})`)
    .action(async (dir: string | undefined, opts: { app?: string; env?: string; message?: string; wait?: boolean; timeout: string; releaseTimeout?: string }, cmd: Command) =>
      withApi(cmd, async (api, server) => {
        const app = resolveApp(opts.app);
        const releaseTimeout = parseReleaseTimeout(opts.releaseTimeout);
        const waitMs = timeoutMs(opts.timeout);
        const idleTimeoutMs = uploadIdleTimeoutMs();
        if (opts.env !== undefined) checkEnvName(opts.env);
        // An app that does not exist, or a control plane that cannot be reached (or refuses us), is
        // named before anything is packed: packing a large app only to fail the upload took minutes.
        await callUnary(api, 'ListReleases', { app }).catch((err: unknown) => {
          if (reasonOf(err) === NOT_FOUND || describeFailure(err, '').exitCode === EXIT_UNREACHABLE) throw err;
        });
        const release = await deployDirectory(api, app, dir ?? '.', { ...opts, releaseTimeout, exitOnSignal: true, idleTimeoutMs, server });
        const types = describeTypes(release.process_types.map((t) => t.name));
        console.log(`Released v${release.version} of ${app} (${release.slug.slice(0, 12)}): ${types}`);
        // The first deploy scales web=1 (as Heroku does), or as a compose file's deploy.replicas say.
        const scaled = release.scaled.map((s) => `${s.type}=${s.count}`).join(' ');
        if (scaled) console.log(`Scaled ${app} to ${scaled} (its first deploy)${startsWhen(release)}; change it with \`cluster ps:scale ${release.scaled[0]!.type}=N -a ${app}\`.`);
        await warnOfDroppedTypes(api, app, release);
        if (opts.wait) await waitForFormation(api, app, undefined, waitMs, { release: release.version });
      }),
    );
}

/**
 * With a release command, the first deploy's formation runs nothing until a release command
 * passes (docs/boot-checks.md#release-phase): said with the scale, which is set at once.
 */
function startsWhen(release: ReleaseInfo__Output): string {
  const hasReleaseCommand = release.process_types.some((t) => t.name === RELEASE_PHASE_TYPE);
  return hasReleaseCommand ? ', which starts once a release command succeeds' : '';
}
