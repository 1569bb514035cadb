/** The scheduler: a pure function from apps, agents and assignments to the changes that converge them. */
import { AgentPool } from './agent-pool';
import { desiredState, groupOf, parseInstanceNumber, type DesiredGroup } from './desired';
import { assignmentFor, specMatches } from './spec';
import { WEB_TYPE, withServesWeb } from './placement';
import type { Assignment, Plan, SchedulerInput } from './types';

/**
 * Computes the minimal plan that makes assignments match the desired formations: keeps every
 * instance that may stay where it is, re-puts kept instances whose spec changed, removes what is
 * no longer wanted or sits on a lost or draining agent or on one its type's placement rule does not
 * allow, and places the rest spread over hosts and datacenters (among the agents the rule allows).
 * Deterministic: the same input always gives the same plan.
 */
export function schedule(input: SchedulerInput): Plan {
  const plan: Plan = { put: [], remove: [], unplaced: [] };
  const desired = desiredState(input.apps);
  // Process servers with web off (docs/process-servers.md): `web` gets a rule that keeps it off
  // them. Only while there are some, so that without them nothing changes, not even the cost.
  if (input.agents.some((a) => a.web === false)) {
    for (const group of desired.groups) if (group.type === WEB_TYPE) group.placement = withServesWeb(group.placement);
  }
  const pool = new AgentPool(input.agents);
  // Per desired instance (slot): the agent an existing assignment keeps it on (-1: to place), and
  // whether that assignment already runs the desired spec.
  const keptOn = new Int32Array(desired.slots).fill(-1);
  const matches = new Uint8Array(desired.slots);
  // Ready agents that keep running an instance that moves off them by its placement rule: its old
  // copy runs until the new one is up (leader/moves.ts), so its slot is not free this round.
  const movingOff: number[] = [];

  for (const assignment of input.assignments) {
    const agent = pool.indexOf(assignment.agentId);
    const group = agent === undefined ? undefined : groupOf(desired, assignment);
    const n = group === undefined ? 0 : parseInstanceNumber(assignment.instance, group.type.length + 1);
    // An unreachable agent (within its grace) keeps its instances whatever its last known labels.
    const unreachable = agent !== undefined && pool.isUnreachable(agent);
    // Lost agent, draining agent (its instances move), an instance no longer desired, or one on an
    // agent its type's placement rule no longer allows (it moves too).
    if (
      agent === undefined ||
      (!pool.isReady(agent) && !unreachable) ||
      group === undefined ||
      n === 0 ||
      n > group.count
    ) {
      plan.remove.push(removal(assignment.agentId, assignment));
      continue;
    }
    if (!unreachable && group.placement !== undefined && !pool.fits(agent, group.placement)) {
      plan.remove.push(removal(assignment.agentId, assignment));
      movingOff.push(agent);
      continue;
    }
    const slot = group.base + n;
    const current = specMatches(assignment, group) ? 1 : 0;
    const other = keptOn[slot]!;
    if (other === agent) {
      // The same key listed twice (one etcd key): keep it, re-put if either copy is stale.
      matches[slot]! &= current;
    } else if (other < 0 || preferred(pool, agent, current, other, matches[slot]!)) {
      if (other >= 0) plan.remove.push(removal(pool.agents[other]!.id, assignment));
      keptOn[slot] = agent;
      matches[slot] = current;
    } else {
      plan.remove.push(removal(assignment.agentId, assignment));
    }
  }
  for (const agent of keptOn) if (agent >= 0) pool.occupy(agent);
  for (const agent of movingOff) pool.occupy(agent);

  for (const group of desired.groups) placeGroup(group, keptOn, matches, pool, plan);
  return plan;
}

// Of two copies of one instance on different ready agents, keep the one that needs no restart,
// then the one on the lowest agent id, so the choice does not depend on input order.
function preferred(pool: AgentPool, agent: number, matches: number, other: number, otherMatches: number): boolean {
  if (matches !== otherMatches) return matches > otherMatches;
  return pool.agents[agent]!.id < pool.agents[other]!.id;
}

// Re-puts changed kept instances and places missing ones, in instance-number order.
function placeGroup(
  group: DesiredGroup,
  keptOn: Int32Array,
  matches: Uint8Array,
  pool: AgentPool,
  plan: Plan,
): void {
  const { base, count } = group;
  let missing = 0;
  for (let n = 1; n <= count; n++) {
    const agent = keptOn[base + n]!;
    if (agent < 0) missing++;
    else if (matches[base + n] === 0) plan.put.push(assignmentFor(group, n, pool.agents[agent]!.id));
  }
  if (missing === 0) return;
  pool.select(group.placement);
  // Counting the group's kept instances is only worth it when some agent has room at all.
  const placing = pool.hasRoom();
  let reason: string | undefined;
  if (placing && missing < count) {
    for (let n = 1; n <= count; n++) if (keptOn[base + n]! >= 0) pool.keep(keptOn[base + n]!);
  }
  for (let n = 1; n <= count; n++) {
    if (keptOn[base + n]! >= 0) continue;
    const agent = placing ? pool.best() : -1;
    if (agent < 0) {
      reason ??= pool.unplacedReason(group.type, group.placement);
      plan.unplaced.push({ app: group.app, instance: `${group.type}.${n}`, type: group.type, reason });
      continue;
    }
    // The group's own counts only steer its later placements: the last one needs no counting,
    // which makes the many single-instance groups cheap.
    if (--missing > 0) pool.place(agent);
    else pool.occupy(agent);
    plan.put.push(assignmentFor(group, n, pool.agents[agent]!.id));
  }
  if (placing) pool.endGroup();
}

function removal(agentId: string, assignment: Assignment): Plan['remove'][number] {
  return { agentId, app: assignment.app, instance: assignment.instance };
}
