/** apps, apps:create, apps:destroy, releases. */
import type { ClusterApiHandlers } from '../../proto/gen/cluster/api/ClusterApi';
import type { ReleaseInfo } from '../../proto/gen/cluster/api/ReleaseInfo';
import type { ReleaseRecord } from '../records';
import type { ApiContext } from './context';
import { unary } from './status';

export function toReleaseInfo(r: ReleaseRecord): ReleaseInfo {
  return {
    version: r.version,
    description: r.description,
    created_at_ms: r.createdAtMs,
    slug: r.slug,
    process_types: Object.entries(r.processTypes).map(([name, command]) => ({ name, command })),
  };
}

export function appHandlers(ctx: ApiContext): Pick<ClusterApiHandlers, 'ListApps' | 'CreateApp' | 'DestroyApp' | 'ListReleases'> {
  return {
    ListApps: unary(ctx.logger, async () => ({
      apps: ctx.view.appList().map((a) => ({ name: a.name, release: a.release, created_at_ms: a.createdAtMs })),
    })),
    CreateApp: unary(ctx.logger, async (req) => {
      const app = await ctx.store.createApp(req.name);
      ctx.logger.info({ app: app.name }, 'app created');
      return { name: app.name, release: app.release, created_at_ms: app.createdAtMs };
    }),
    DestroyApp: unary(ctx.logger, async (req) => {
      await ctx.store.destroyApp(req.name);
      ctx.logger.info({ app: req.name }, 'app destroyed');
      return {};
    }),
    ListReleases: unary(ctx.logger, async (req) => ({
      releases: (await ctx.store.listReleases(req.app)).map(toReleaseInfo),
    })),
  };
}
