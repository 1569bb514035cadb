/**
 * The etcd writes of a scheduling plan: the `unplaced/<app>` keys it changes and its
 * assignment puts and deletes, in the order the scheduler loop commits them.
 */
import type { WriteOp } from '../etcd/batch';
import type { Keys } from '../keys';
import { encode } from '../records';
import type { Plan, Unplaced } from '../scheduler/types';
import { encodeUnplaced } from '../state/instance-status';

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
 * changes. `current` holds the `unplaced/` keys as etcd has them now (key to text).
 */
export function unplacedOps(plan: Plan, keys: Keys, current: ReadonlyMap<string, { value: string }>): WriteOp[] {
  const ops: WriteOp[] = [];
  const byApp = new Map<string, Unplaced[]>();
  for (const u of plan.unplaced) byApp.set(u.app, [...(byApp.get(u.app) ?? []), u]);
  for (const [app, list] of byApp) {
    const value = encodeUnplaced(list);
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
 */
export function* planOps(plan: Plan, keys: Keys, unplaced: WriteOp[]): Generator<WriteOp, void, undefined> {
  yield* unplaced;
  // Assignment writes go last: the revision of the last chunk is then one the
  // assignments mirror will see (round() waits for it).
  // Grouped by agent: a transaction (up to 2,048 writes) then holds whole agents' shares, so
  // each agent gets its share in one or two stream messages and answers with one or two status
  // reports, instead of one of each per transaction (the scheduler spreads consecutive
  // instances over all agents).
  const byAgent = (x: { agentId: string }, y: { agentId: string }) => (x.agentId < y.agentId ? -1 : x.agentId > y.agentId ? 1 : 0);
  for (const r of [...plan.remove].sort(byAgent)) yield { delete: keys.assignment(r.agentId, r.app, r.instance) };
  for (const a of [...plan.put].sort(byAgent)) yield { put: keys.assignment(a.agentId, a.app, a.instance), value: encode(a) };
}
