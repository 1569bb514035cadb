/** apps, apps:create, apps:destroy, releases. */
import type { ClusterApiHandlers } from '../../proto/gen/cluster/api/ClusterApi';
import type { ReleaseInfo } from '../../proto/gen/cluster/api/ReleaseInfo';
import type { AppInfo } from '../../proto/gen/cluster/api/AppInfo';
import type { AppRecord, ReleaseRecord } from '../records';
import type { ApiContext } from '../rpc/context';
import { unary } from '../rpc/status';
import { requestIdOf } from '../rpc/request-id';
import { staleOf } from './stale';
import { deployedOf } from '../state/app-store';
import { reportedOneOffs, stopOneOffsOfDestroyedApp } from './destroyed-one-offs';

export function toReleaseInfo(r: ReleaseRecord, deployed?: number): ReleaseInfo {
  return {
    version: r.version,
    description: r.description,
    created_at_ms: r.createdAtMs,
    slug: r.slug,
    process_types: Object.entries(r.processTypes).map(([name, command]) => ({ name, command })),
    phase: r.phase?.state ?? '',
    phase_reason: r.phase?.reason ?? '',
    deployed: deployed === r.version,
  };
}

/**
 * An app's line in `apps`: its newest release and the one its instances run, and, when they
 * differ, the newest one's release phase. That release is read from etcd, not the view's cache of
 * releases: its phase changes, and the cache keeps the first copy read.
 */
async function appInfo(ctx: ApiContext, a: AppRecord): Promise<AppInfo> {
  const running = deployedOf(a);
  const info: AppInfo = { name: a.name, release: a.release, created_at_ms: a.createdAtMs, running };
  // While etcd cannot be read (the listing is then the view's, marked stale) no read waits on it.
  if (running === a.release || staleOf(ctx)) return info;
  const newest = await ctx.store.getRelease(a.name, a.release).catch(() => undefined);
  return { ...info, newest_phase: newest?.phase?.state ?? '', newest_phase_reason: newest?.phase?.reason ?? '' };
}

export function appHandlers(
  ctx: ApiContext,
): Pick<ClusterApiHandlers, 'ListApps' | 'CreateApp' | 'DestroyApp' | 'ListReleases' | 'Rollback' | 'GetConfig' | 'SetConfig'> {
  return {
    Rollback: unary(ctx.logger, async (req, call) => {
      const release = await ctx.store.rollback(req.app, req.version, requestIdOf(call));
      ctx.logger.info({ app: req.app, release: release.version, description: release.description }, 'release created');
      return toReleaseInfo(release);
    }),
    GetConfig: unary(ctx.logger, async (req) => ({ vars: await ctx.store.getConfig(req.app) })),
    SetConfig: unary(ctx.logger, async (req, call) => {
      const result = await ctx.store.setConfig(req.app, req.set, req.unset, requestIdOf(call), req.skip_not_set);
      const notSet = result.notSet;
      if (!result.changed) return { ...(result.release ? toReleaseInfo(result.release) : { version: 0 }), not_set: notSet, unchanged: true };
      // The description names keys only; values never reach the logs.
      ctx.logger.info({ app: req.app, release: result.release.version, description: result.release.description }, 'release created');
      return { ...toReleaseInfo(result.release), not_set: notSet };
    }),
    ListApps: unary(ctx.logger, async () => ({
      apps: await Promise.all(ctx.view.appList().map((a) => appInfo(ctx, a))),
      stale: staleOf(ctx),
    })),
    CreateApp: unary(ctx.logger, async (req) => {
      const app = await ctx.store.createApp(req.name);
      ctx.logger.info({ app: app.name }, 'app created');
      return { name: app.name, release: app.release, created_at_ms: app.createdAtMs };
    }),
    DestroyApp: unary(ctx.logger, async (req) => {
      // Its one-off processes (runs, scheduled runs, its release command) are stopped once the app is gone.
      const [jobs, oneOffs] = await Promise.all([ctx.jobs.list(req.name).catch(() => []), reportedOneOffs(ctx, req.name).catch(() => [])]);
      await ctx.store.destroyApp(req.name);
      ctx.logger.info({ app: req.name }, 'app destroyed');
      await stopOneOffsOfDestroyedApp(ctx, req.name, oneOffs, jobs.flatMap((j) => j.state.active));
      return {};
    }),
    ListReleases: unary(ctx.logger, async (req) => {
      const releases = await ctx.store.listReleases(req.app);
      const deployed = deployedOf(await ctx.store.getApp(req.app));
      return { releases: releases.map((r) => toReleaseInfo(r, deployed)) };
    }),
  };
}
