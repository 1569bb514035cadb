/**
 * Which instances of a drained agent no other agent may take at all: a placement rule no other
 * ready agent fits, or `web` while no other ready agent runs web. They keep running on the drained
 * agent (leader/moves.ts), so `agents:drain` must not say that they move. Free capacity is left
 * out: it changes with every scale and move, and `ps` says when it is what holds one back.
 */
import { describeRule, fitsRule, isRestrictive, WEB_TYPE, withServesWeb } from './placement';
import type { AgentView, Assignment, PlacementRule } from './types';

export interface DrainOutlook {
  /** The drained agent's instances that fit on no other ready agent. */
  stuck: number;
  /** One of them, `app/instance`, for the message; '' when none. */
  example: string;
  /** Why that one cannot go: `no other ready agent runs web`; '' when none. */
  reason: string;
}

/** `rule(app, type)`: the app's placement rule of the type, if any. */
export function drainOutlook(
  id: string,
  assignments: readonly Assignment[],
  agents: readonly AgentView[],
  rule: (app: string, type: string) => PlacementRule | undefined,
): DrainOutlook {
  const others = agents.filter((a) => a.id !== id && a.state === 'ready');
  const outlook: DrainOutlook = { stuck: 0, example: '', reason: '' };
  for (const a of assignments) {
    if (a.agentId !== id) continue;
    const own = rule(a.app, a.type);
    const effective = a.type === WEB_TYPE ? withServesWeb(own) : own;
    if (others.some((agent) => effective === undefined || fitsRule(agent, effective))) continue;
    if (outlook.stuck++ === 0) {
      outlook.example = `${a.app}/${a.instance}`;
      outlook.reason = others.length === 0 ? 'no other agent is ready' : whyNowhere(a.type, own);
    }
  }
  return outlook;
}

function whyNowhere(type: string, own: PlacementRule | undefined): string {
  if (!isRestrictive(own)) return 'no other ready agent runs web';
  const web = type === WEB_TYPE ? ' and runs web' : '';
  return `no other ready agent matches the placement rule of \`${type}\` (${describeRule(own)})${web}`;
}
