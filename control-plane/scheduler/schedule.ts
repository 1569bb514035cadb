/** The scheduler: a pure function from apps, agents and assignments to the changes that converge them. */
import { AgentPool } from './agent-pool';
import { assignmentFor, desiredGroups, parseInstanceNumber, specMatches, type DesiredGroup } from './desired';
import type { Assignment, Plan, SchedulerInput } from './types';

// A desired group and where its slots start in the shared per-instance arrays (slot = base + n).
interface Slots {
  group: DesiredGroup;
  base: number;
}

// Apps rarely have more than a handful of types: a short array beats a Map per app, which matters
// with 100k single-type apps; the Map is only built for the odd app with many types.
interface AppSlots {
  list: Slots[];
  byType?: Map<string, Slots>;
}

/**
 * Computes the minimal plan that makes assignments match the desired formations: keeps every
 * instance that may stay where it is, re-puts kept instances whose spec changed, removes what is
 * no longer wanted or sits on a lost or draining agent, and places the rest spread over hosts and
 * datacenters. Deterministic: the same input always gives the same plan.
 */
export function schedule(input: SchedulerInput): Plan {
  const plan: Plan = { put: [], remove: [], unplaced: [] };
  const groups = desiredGroups(input.apps);
  const pool = new AgentPool(input.agents);
  const apps = new Map<string, AppSlots>();
  let slotCount = 0;
  for (const group of groups) {
    let app = apps.get(group.app);
    if (app === undefined) apps.set(group.app, (app = { list: [] }));
    app.list.push({ group, base: slotCount });
    slotCount += group.count + 1;
  }
  for (const app of apps.values()) {
    if (app.list.length > 8) app.byType = new Map(app.list.map((s) => [s.group.type, s]));
  }
  // Per slot: the agent index an existing assignment keeps it on (-1: to place), and whether that
  // assignment already runs the desired spec.
  const keptOn = new Int32Array(slotCount).fill(-1);
  const matches = new Uint8Array(slotCount);

  for (const assignment of input.assignments) {
    const agent = pool.indexOf(assignment.agentId);
    const slots = agent === undefined ? undefined : findSlots(apps.get(assignment.app), assignment);
    const n = slots === undefined ? 0 : parseInstanceNumber(assignment.instance, slots.group.type.length + 1);
    // Lost agent, draining agent (its instances move), or an instance no longer desired.
    if (agent === undefined || !pool.isReady(agent) || slots === undefined || n === 0 || n > slots.group.count) {
      plan.remove.push(removal(assignment.agentId, assignment));
      continue;
    }
    const slot = slots.base + n;
    const current = specMatches(assignment, slots.group) ? 1 : 0;
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

  const reason = unplacedReason(pool);
  for (const app of apps.values()) {
    for (const { group, base } of app.list) placeGroup(group, base, keptOn, matches, pool, reason, plan);
  }
  return plan;
}

// The desired group an assignment belongs to, by the type in its instance name (`worker.3`).
function findSlots(app: AppSlots | undefined, assignment: Assignment): Slots | undefined {
  if (app === undefined) return undefined;
  const { instance } = assignment;
  // The stored type normally prefixes the name; slicing the name is the fallback for a record
  // whose type field disagrees (it will be re-put with the right one).
  let type = assignment.type;
  if (!(instance.length > type.length + 1 && instance.charCodeAt(type.length) === 46 && instance.startsWith(type))) {
    const dot = instance.lastIndexOf('.');
    if (dot <= 0) return undefined;
    type = instance.slice(0, dot);
  }
  if (app.byType !== undefined) return app.byType.get(type);
  for (const slots of app.list) if (slots.group.type === type) return slots;
  return undefined;
}

// Of two copies of one instance on different ready agents, keep the one that needs no restart,
// then the one on the lowest agent id, so the choice does not depend on input order.
function preferred(pool: AgentPool, agent: number, matches: number, other: number, otherMatches: number): boolean {
  if (matches !== otherMatches) return matches > otherMatches;
  return pool.agents[agent]!.id < pool.agents[other]!.id;
}

// Re-puts changed kept instances and places missing ones, in instance-number order. Instance n's
// slot in `keptOn` and `matches` is base + n.
function placeGroup(
  group: DesiredGroup,
  base: number,
  keptOn: Int32Array,
  matches: Uint8Array,
  pool: AgentPool,
  reason: string,
  plan: Plan,
): void {
  let missing = 0;
  for (let n = 1; n <= group.count; n++) {
    const agent = keptOn[base + n]!;
    if (agent < 0) missing++;
    else if (matches[base + n] === 0) plan.put.push(assignmentFor(group, n, pool.agents[agent]!.id));
  }
  if (missing === 0) return;
  // Counting the group's kept instances is only worth it when some agent has room at all.
  const placing = pool.hasRoom();
  if (placing) for (let n = 1; n <= group.count; n++) if (keptOn[base + n]! >= 0) pool.keep(keptOn[base + n]!);
  for (let n = 1; n <= group.count; n++) {
    if (keptOn[base + n]! >= 0) continue;
    const agent = placing ? pool.best() : -1;
    if (agent < 0) {
      plan.unplaced.push({ app: group.app, instance: `${group.type}.${n}`, type: group.type, reason });
      continue;
    }
    pool.place(agent);
    plan.put.push(assignmentFor(group, n, pool.agents[agent]!.id));
  }
  if (placing) pool.endGroup();
}

function unplacedReason(pool: AgentPool): string {
  if (pool.agents.length === 0) return 'no agents registered';
  if (!pool.anyReady()) return 'no ready agent';
  return 'no agent with free capacity';
}

function removal(agentId: string, assignment: Assignment): Plan['remove'][number] {
  return { agentId, app: assignment.app, instance: assignment.instance };
}
