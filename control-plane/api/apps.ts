/** apps, apps:create, apps:destroy, releases. */
import type { ClusterApiHandlers } from '../../proto/gen/cluster/api/ClusterApi';
import type { ReleaseInfo } from '../../proto/gen/cluster/api/ReleaseInfo';
import type { ReleaseRecord } from '../records';
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
      const release = await ctx.store.setConfig(req.app, req.set, req.unset, requestIdOf(call));
      // The description names keys only; values never reach the logs.
      ctx.logger.info({ app: req.app, release: release.version, description: release.description }, 'release created');
      return toReleaseInfo(release);
    }),
    ListApps: unary(ctx.logger, async () => ({
      apps: ctx.view.appList().map((a) => ({ name: a.name, release: a.release, created_at_ms: a.createdAtMs })),
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
