/** For scheduler unit tests: what a plan does to the assignments, as the leader's plan writer would. */
import type { Assignment, Plan } from '../../control-plane/scheduler/types';

/** The assignments after applying `plan` to `assignments`. */
export function applyPlan(assignments: Assignment[], plan: Plan): Assignment[] {
  const key = (a: { agentId: string; app: string; instance: string }) => `${a.agentId}/${a.app}/${a.instance}`;
  const byKey = new Map(assignments.map((a) => [key(a), a]));
  for (const r of plan.remove) byKey.delete(key(r));
  for (const p of plan.put) byKey.set(key(p), p);
  return [...byKey.values()];
}
