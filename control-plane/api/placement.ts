/** ps:place: placement rules of process types (labels an agent must carry, a datacenter). */
import type { ClusterApiHandlers } from '../../proto/gen/cluster/api/ClusterApi';
import type { PlacementRule } from '../../proto/gen/cluster/api/PlacementRule';
import type { PlacementRecord } from '../records';
import type { ApiContext } from '../rpc/context';
import { unary } from '../rpc/status';

function toRules(placement: Record<string, PlacementRecord>): PlacementRule[] {
  return Object.entries(placement)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([type, rule]) => ({ type, labels: rule.labels ?? {}, datacenter: rule.datacenter ?? '' }));
}

export function placementHandlers(ctx: ApiContext): Pick<ClusterApiHandlers, 'SetPlacement' | 'GetPlacement'> {
  return {
    SetPlacement: unary(ctx.logger, async (req) => {
      const rules = req.rules.map((r) => ({ type: r.type, labels: r.labels, datacenter: r.datacenter || undefined }));
      const placement = await ctx.store.setPlacement(req.app, rules);
      ctx.logger.info({ app: req.app, placement }, 'placement rules changed');
      return { rules: toRules(placement) };
    }),
    GetPlacement: unary(ctx.logger, async (req) => ({ rules: toRules(await ctx.store.getPlacement(req.app)) })),
  };
}
