/**
 * deploy: receive a slug, store it by digest, copy it to every other live replica, then
 * create a release from the Procfile (so the release is usable from any replica at once).
 */
import type { ClusterApiHandlers } from '../../proto/gen/cluster/api/ClusterApi';
import type { DeployMeta__Output } from '../../proto/gen/cluster/api/DeployMeta';
import { parseProcfile } from '../../lib/procfile';
import { InvalidArgumentError } from '../errors';
import type { SlugUpload } from '../slugs/slug-store';
import type { ApiContext } from '../rpc/context';
import { toReleaseInfo } from './apps';
import { toServiceError } from '../rpc/status';
import { DEFAULT_RELEASE_TIMEOUT_SECONDS, RELEASE_PHASE_TYPE, releaseTimeoutProblem } from '../../lib/release-phase';
import { checkScaleChanges } from '../state/scale-change';

/** `deploy --release-timeout` in ms (0: the default); refused when out of range. */
function releaseTimeoutMs(seconds: number): number {
  const problem = releaseTimeoutProblem(seconds);
  if (problem) throw new InvalidArgumentError(problem);
  return (seconds || DEFAULT_RELEASE_TIMEOUT_SECONDS) * 1000;
}

/**
 * The formation a deploy asks for should it be the app's first (a compose file's deploy.replicas),
 * checked as `scale` checks its counts; undefined when it asks for none (web=1 then).
 */
function firstFormationOf(meta: DeployMeta__Output, types: Record<string, string>, maxPerType: number): Record<string, number> | undefined {
  const changes = Object.entries(meta.first_formation ?? {}).map(([type, count]) => ({ type, count }));
  if (changes.length === 0) return undefined;
  checkScaleChanges(changes, maxPerType);
  for (const { type } of changes) {
    if (type === RELEASE_PHASE_TYPE || !Object.hasOwn(types, type)) {
      throw new InvalidArgumentError(`the first formation names \`${type}\`, which is not a process type of ${meta.procfile_name || 'the Procfile'}`);
    }
  }
  return Object.fromEntries(changes.map(({ type, count }) => [type, count]));
}

export function deployHandler(ctx: ApiContext): ClusterApiHandlers['Deploy'] {
  return (call, callback) => {
    let meta: DeployMeta__Output | undefined;
    let firstFormation: Record<string, number> | undefined;
    let upload: SlugUpload | undefined;
    let failed = false;
    // Chunks are written one after another; `chain` keeps their order and carries failures.
    let chain: Promise<void> = Promise.resolve();

    const fail = (err: unknown) => {
      if (failed) return;
      failed = true;
      upload?.discard();
      call.destroy();
      callback(toServiceError(err, ctx.logger));
    };

    call.on('data', (chunk: { meta?: DeployMeta__Output | null; data?: Buffer }) => {
      chain = chain.then(async () => {
        if (failed) return;
        if (chunk.meta) {
          if (meta) throw new InvalidArgumentError('deploy sent its metadata twice');
          meta = chunk.meta;
          if (!/^\d+$/.test(String(meta.size)) || !Number.isSafeInteger(Number(meta.size))) {
            throw new InvalidArgumentError(`deploy size ${meta.size}: give the slug's size in bytes`);
          }
          // Fail before receiving the slug.
          const types = parseProcfile(meta.procfile);
          releaseTimeoutMs(meta.release_timeout_s);
          const app = await ctx.store.getApp(meta.app); // the app must exist
          // Only a first deploy (no code yet) takes a formation; later ones ignore it, unchecked.
          const current = app.release > 0 ? await ctx.store.getRelease(app.name, app.release) : undefined;
          if (!current?.slug) firstFormation = firstFormationOf(meta, types, ctx.store.maxPerType);
          upload = ctx.slugs.store.upload();
          return;
        }
        if (!upload) throw new InvalidArgumentError('deploy sent slug data before its metadata');
        call.pause();
        await upload.write(chunk.data ?? Buffer.alloc(0));
        call.resume();
      }).catch(fail);
    });

    call.on('end', () => {
      chain = chain.then(async () => {
        if (failed) return;
        if (!meta || !upload) throw new InvalidArgumentError('deploy sent no metadata');
        const processTypes = parseProcfile(meta.procfile);
        const { digest, size } = await upload.commit(Number(meta.size));
        await (await ctx.slugs.replicator()).replicate(digest, size);
        // The deploy was cancelled (Ctrl-C, its deadline) while the slug was stored: the user was
        // told it failed, so no release may roll out behind their back. The slug stays, unused.
        if (failed || call.cancelled) {
          ctx.logger.info({ app: meta.app, slug: digest }, 'deploy cancelled after its upload; no release made');
          return;
        }
        const { release, scaled } = await ctx.store.deploy(meta.app, {
          slug: digest,
          processTypes,
          description: meta.description || `Deploy ${digest.slice(0, 7)}`,
          releasePhase: { timeoutMs: releaseTimeoutMs(meta.release_timeout_s) },
        }, firstFormation);
        ctx.logger.info({ app: meta.app, release: release.version, slug: digest, scaled }, 'release created');
        callback(null, { ...toReleaseInfo(release), scaled: Object.entries(scaled).map(([type, count]) => ({ type, count })) });
      }).catch(fail);
    });

    call.on('error', (err) => {
      if (failed) return;
      failed = true;
      upload?.discard();
      ctx.logger.debug({ err }, 'deploy stream broke');
    });
    call.on('cancelled', () => {
      failed = true;
      upload?.discard();
    });
  };
}
