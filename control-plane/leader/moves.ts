/**
 * Moves without a gap: when an instance leaves a live agent (drained, or its type's placement
 * rule no longer allows the agent), the scheduler places a new copy elsewhere and removes the old
 * one in the same plan. Here the removal is held back until the new copy reports `up` on what it
 * was assigned, so for a moment the instance runs twice — new ones up before old ones stop. The
 * scheduler tolerates that: each round it keeps the copy on the allowed agent and asks again to
 * remove the other, and this module lets that removal through once the new copy is up.
 *
 * - A lost agent's copies are removed at once: there is nothing left to protect.
 * - A drained agent never loses an instance without a replacement: when the instance cannot be
 *   placed anywhere else (no room, no agent its rule allows), its removal waits (for room, an
 *   `agents:activate`, or a scale-down).
 * - An old copy that its agent reports not up (crashed, or starting: a crash loop, a boot that
 *   does not bind its port, a restart under way) is removed at once: it serves nothing for the
 *   new copy to take over, and holding it would only keep a drain waiting for `maxHoldMs`. One
 *   with no report yet is held. (A status left wrong by a late write could let an old copy that
 *   is up go early; the agents' status resend bounds how long one stays wrong.)
 * - A replacement that does not come up within `maxHoldMs` (crash loop on the new host) stops
 *   holding the old copy, so a drain always completes.
 * - Removals of instances that are no longer desired (scale-down, destroyed app) go through.
 */
import type { Assignment, Plan } from '../scheduler/types';
import type { ObservedStatus } from './rollout';

export interface MoveHoldOptions {
  /** What the assigned agent reports about an instance, if anything. */
  observed(a: Assignment): ObservedStatus | undefined;
  /** Whether the agent is registered (its lease is alive). */
  isLive(agentId: string): boolean;
  /** Whether the agent is drained. */
  isDraining(agentId: string): boolean;
  /** How long the removal with this key has been held already (0 when it was not held before). */
  heldForMs(key: string): number;
  maxHoldMs: number;
}

export interface MoveHoldResult {
  plan: Plan;
  /** Keys (`agent/app/instance`) of the removals held back this round. */
  held: string[];
  /** Keys of removals let through because their replacement did not come up in time. */
  expired: string[];
}

/** The key of an assignment: `agent/app/instance`. */
export const moveKey = (a: { agentId: string; app: string; instance: string }): string => `${a.agentId}/${a.app}/${a.instance}`;

const instanceKey = (a: { app: string; instance: string }) => `${a.app}/${a.instance}`;

/** Holds back the removals of `plan` whose instance has no copy up elsewhere yet (see above). */
export function holdMoves(plan: Plan, current: Assignment[], opts: MoveHoldOptions): MoveHoldResult {
  if (plan.remove.length === 0) return { plan, held: [], expired: [] };
  const removed = new Set(plan.remove.map(moveKey));
  // Copies that will exist after the plan, by instance: puts first (they carry the spec to run).
  const copies = new Map<string, Assignment[]>();
  const add = (a: Assignment) => {
    const list = copies.get(instanceKey(a));
    if (list) list.push(a);
    else copies.set(instanceKey(a), [a]);
  };
  for (const a of plan.put) add(a);
  const putKeys = new Set(plan.put.map(moveKey));
  // The copies being removed, for what their agents report of them.
  const oldCopies = new Map<string, Assignment>();
  for (const a of current) {
    const key = moveKey(a);
    if (removed.has(key)) oldCopies.set(key, a);
    else if (!putKeys.has(key)) add(a);
  }
  const unplaced = new Set(plan.unplaced.map(instanceKey));

  const remove: Plan['remove'] = [];
  const held: string[] = [];
  const expired: string[] = [];
  for (const r of plan.remove) {
    const key = moveKey(r);
    if (!opts.isLive(r.agentId)) {
      remove.push(r);
      continue;
    }
    const others = (copies.get(instanceKey(r)) ?? []).filter((a) => a.agentId !== r.agentId);
    let hold: 'no' | 'until-up' | 'for-room' = 'no';
    if (others.length > 0) {
      const old = oldCopies.get(key);
      hold = others.some((a) => isUp(a, opts.observed(a))) || (old && !mayServe(opts.observed(old))) ? 'no' : 'until-up';
    } else if (opts.isDraining(r.agentId) && unplaced.has(instanceKey(r))) hold = 'for-room';
    if (hold === 'until-up' && opts.heldForMs(key) >= opts.maxHoldMs) {
      expired.push(key);
      hold = 'no';
    }
    if (hold === 'no') remove.push(r);
    else held.push(key);
  }
  return { plan: held.length === 0 ? plan : { ...plan, remove }, held, expired };
}

/** Whether the old copy may be serving: reported up (on any release), or not reported yet. */
function mayServe(s: ObservedStatus | undefined): boolean {
  return s === undefined || s.state === 'up';
}

function isUp(a: Assignment, s: ObservedStatus | undefined): boolean {
  return s !== undefined && s.state === 'up' && s.release === a.release && s.restartToken === a.restartToken;
}
