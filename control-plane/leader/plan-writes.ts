/**
 * The etcd writes of a scheduling plan: the `unplaced/<app>` keys it changes and its
 * assignment puts and deletes, in the order the scheduler loop commits them.
 */
import type { WriteOp } from '../etcd/batch';
import type { Keys } from '../keys';
import { encode } from '../records';
import type { Assignment, Plan, Unplaced } from '../scheduler/types';
import type { AssignmentIndex, PlacedGroup } from '../state/assignment-index';
import { encodeUnplaced } from '../state/instance-status';
import { encodePackedAssignments, PACK_MAX } from '../state/packed-assignments';

/**
 * Transactions of a plan in flight at once (see commitInChunks): one wide one, up to 2,048
 * writes. More would write 100k a little faster on an idle machine but lengthen etcd's queue of
 * writes to apply, and etcd's leader answers no lease keepalive before that queue is applied:
 * on a loaded machine every agent's renewal waited behind the plan, and leases expired
 * (docs/stack-notes.md, "etcd").
 */
export const WRITE_CONCURRENCY = 1;

/**
 * The writes of `unplaced/<app>` keys the plan changes: one key per app, written only when it
 * changes. `current` holds the `unplaced/` keys as etcd has them now (key to text);
 * `agentsRevision` is the newest agent registration the plan saw (encodeUnplaced).
 */
export function unplacedOps(plan: Plan, keys: Keys, current: ReadonlyMap<string, { value: string }>, agentsRevision = 0): WriteOp[] {
  const ops: WriteOp[] = [];
  const byApp = new Map<string, Unplaced[]>();
  for (const u of plan.unplaced) byApp.set(u.app, [...(byApp.get(u.app) ?? []), u]);
  for (const [app, list] of byApp) {
    const value = encodeUnplaced(list, agentsRevision);
    if (current.get(keys.unplaced(app))?.value.toString() !== value) ops.push({ put: keys.unplaced(app), value });
  }
  for (const key of current.keys()) {
    const app = keys.after(key, keys.allUnplaced());
    if (app !== undefined && !byApp.has(app)) ops.push({ delete: key });
  }
  return ops;
}

/**
 * Every write of the plan, made as commitInChunks reads them (a generator: 100k assignments'
 * keys and values are not all held at once).
 *
 * The assignments of each agent's app the plan changes are written as one packed value when
 * `packs` (every live replica reads that layout) and the group has at most PACK_MAX instances,
 * per instance otherwise; a group whose layout changes is rewritten whole, the new layout first
 * and the old one deleted after it (state/assignment-index.ts says why). Without `packs`, every
 * packed group is written back per instance, changed or not: a replica of an older version has
 * joined, and it reads only that layout.
 */
export function* planOps(plan: Plan, keys: Keys, unplaced: WriteOp[], current: Pick<AssignmentIndex, 'group' | 'packedGroups'>, packs: boolean): Generator<WriteOp, void, undefined> {
  yield* unplaced;
  // Assignment writes go last: the revision of the last chunk is then one the
  // assignments mirror will see (round() waits for it).
  // Grouped by agent: a transaction (up to 2,048 writes) then holds whole agents' shares, so
  // each agent gets its share in one or two stream messages and answers with one or two status
  // reports, instead of one of each per transaction (the scheduler spreads consecutive
  // instances over all agents).
  const changes = new Map<string, GroupChange>();
  const change = (agentId: string, app: string): GroupChange => {
    const id = `${agentId}\0${app}`;
    let c = changes.get(id);
    if (!c) changes.set(id, (c = { agentId, app, puts: [], removes: new Set() }));
    return c;
  };
  for (const r of plan.remove) change(r.agentId, r.app).removes.add(r.instance);
  for (const a of plan.put) change(a.agentId, a.app).puts.push(a);
  if (!packs) for (const [agentId, app] of current.packedGroups()) change(agentId, app);
  const ordered = [...changes.values()].sort((x, y) => compare(x.agentId, y.agentId) || compare(x.app, y.app));
  for (const c of ordered) yield* groupOps(c, keys, current.group(c.agentId, c.app), packs);
}

interface GroupChange {
  agentId: string;
  app: string;
  puts: Assignment[];
  removes: Set<string>;
}

function compare(x: string, y: string): number {
  return x < y ? -1 : x > y ? 1 : 0;
}

/** The writes of one agent's app. */
function* groupOps(c: GroupChange, keys: Keys, group: PlacedGroup, packs: boolean): Generator<WriteOp, void, undefined> {
  const after = new Map<string, { assignment: Assignment; since?: number }>();
  for (const [instance, placed] of group.placed) {
    if (!c.removes.has(instance)) after.set(instance, { assignment: placed.assignment, since: placed.revision });
  }
  for (const a of c.puts) after.set(a.instance, { assignment: a });
  // A copy: the index changes as earlier writes of this plan commit, between two yields.
  const singles = new Set(group.singles);
  const packKey = keys.packedAssignments(c.agentId, c.app);
  if (packs && after.size > 0 && after.size <= PACK_MAX) {
    yield { put: packKey, value: encodePackedAssignments([...after.values()]) };
    for (const instance of singles) yield { delete: keys.assignment(c.agentId, c.app, instance) };
    return;
  }
  if (group.packed) {
    // Leaving the packed layout: every instance per instance, then the packed value goes.
    for (const [instance, { assignment }] of after) yield { put: keys.assignment(c.agentId, c.app, instance), value: encode(assignment) };
    for (const instance of singles) if (!after.has(instance)) yield { delete: keys.assignment(c.agentId, c.app, instance) };
    yield { delete: packKey };
    return;
  }
  for (const instance of c.removes) yield { delete: keys.assignment(c.agentId, c.app, instance) };
  for (const a of c.puts) yield { put: keys.assignment(a.agentId, a.app, a.instance), value: encode(a) };
}
