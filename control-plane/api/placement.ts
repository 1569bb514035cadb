/** ps:place: placement rules of process types (labels an agent must carry, a datacenter). */
import type { ClusterApiHandlers } from '../../proto/gen/cluster/api/ClusterApi';
import type { PlacementRule } from '../../proto/gen/cluster/api/PlacementRule';
import type { PlacementRecord } from '../records';
import type { ApiContext } from '../rpc/context';
import { unary } from '../rpc/status';
import { FailedPreconditionError } from '../errors';
import { own } from '../../lib/own';
import { checkPlacementRules } from '../state/formation-settings';
import { describeRule, fitsRule, isRestrictive, WEB_TYPE, withServesWeb } from '../scheduler/placement';
import type { PlacementRule as SchedulerRule } from '../scheduler/types';

function toRules(placement: Record<string, PlacementRecord>): PlacementRule[] {
  return Object.entries(placement)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([type, rule]) => ({ type, labels: rule.labels ?? {}, datacenter: rule.datacenter ?? '' }));
}

export function placementHandlers(ctx: ApiContext): Pick<ClusterApiHandlers, 'SetPlacement' | 'GetPlacement'> {
  return {
    SetPlacement: unary(ctx.logger, async (req) => {
      const rules = req.rules.map((r) => ({ type: r.type, labels: r.labels, datacenter: r.datacenter || undefined }));
      // A malformed label is named as such, not as a rule no agent fits.
      checkPlacementRules(rules);
      if (!req.force) for (const rule of rules) refuseIfFitsNoAgent(ctx, req.app, rule);
      const placement = await ctx.store.setPlacement(req.app, rules);
      ctx.logger.info({ app: req.app, placement }, 'placement rules changed');
      return { rules: toRules(placement) };
    }),
    GetPlacement: unary(ctx.logger, async (req) => ({ rules: toRules(await ctx.store.getPlacement(req.app)) })),
  };
}

/**
 * A rule that no ready agent fits would stop every running instance of its type at once (they
 * wait as pending, unlike a drain's, which keep running when nothing else fits): a typo in a
 * label must not take a type down. Refused unless forced (a rule set before its agents join).
 * For `web`, an agent fits only if it runs web too (process servers, docs/process-servers.md).
 */
function refuseIfFitsNoAgent(ctx: ApiContext, app: string, rule: { type: string } & SchedulerRule): void {
  if (!isRestrictive(rule)) return;
  const count = own(ctx.view.formation(app).counts, rule.type) ?? 0;
  if (count === 0) return;
  const ready = ctx.view.agentViews().filter((a) => a.state === 'ready' && fitsRule(a, rule));
  const fits = rule.type === WEB_TYPE ? ready.filter((a) => fitsRule(a, withServesWeb(rule))) : ready;
  if (fits.length > 0) return;
  const plural = `${count} \`${rule.type}\` instance${count === 1 ? '' : 's'} of \`${app}\``;
  if (ready.length > 0) {
    // It fits process servers only, whose web is off.
    const ids = ready.map((a) => `\`${a.id}\``).join(', ');
    throw new FailedPreconditionError(
      `no ready agent that runs web fits ${describeRule(rule)} (${ids} fit${ready.length === 1 ? 's' : ''} but run${ready.length === 1 ? 's' : ''} no web): the ${plural} would stop and wait as pending. ` +
        'Turn web on there first (`cluster agents:web ID on`), or give --force to set the rule anyway',
    );
  }
  throw new FailedPreconditionError(
    `no ready agent fits ${describeRule(rule)}: the ${plural} would stop and wait as pending. ` +
      'Check the labels and datacenters in `cluster agents`, or give --force to set the rule anyway',
  );
}
