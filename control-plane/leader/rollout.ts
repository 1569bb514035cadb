/**
 * Rolling restarts: when a new release (deploy, config change, rollback) or a restart
 * changes what instances run, only a bounded number of a process type may be restarting
 * at once — 1 for `web`, a quarter (at least 1) for other types. An instance counts as
 * restarting from the moment its assignment changes until its agent reports it `up` on
 * what it was assigned, and `up` means it passed its boot check (web: accepts connections
 * on $PORT; others: ran 2 s; docs/boot-checks.md). An instance that crashes or fails its
 * check on what it was assigned stays restarting, so the rollout of its type stops there
 * and the instances not rolled yet keep serving the old release.
 * Instances that are not up anyway (crashed, starting) restart without waiting their turn:
 * holding them back protects nothing, and a release that fixes a crash loop should reach
 * them first.
 */
import { parseInstanceName } from '../../lib/names';
import type { Assignment, Plan } from '../scheduler/types';

/** What an agent reports about an instance (the parts a rollout needs). */
export interface ObservedStatus {
  state: string;
  release: number;
  restartToken: string;
}

/** How many instances of a type may restart at once. */
export function rolloutBound(type: string, count: number): number {
  return type === 'web' ? 1 : Math.max(1, Math.floor(count / 4));
}

const keyOf = (a: { agentId: string; app: string; instance: string }) => `${a.agentId}/${a.app}/${a.instance}`;

/**
 * Holds back the re-puts of `plan` (spec changes of instances that stay on their agent)
 * beyond each type's bound. `current` are the assignments before the plan; `status`
 * finds what the assigned agent reports. Placements and removals are never held back.
 * Returns the plan to write and how many re-puts wait for a later round.
 */
export function limitRollout(
  plan: Plan,
  current: Assignment[],
  status: (a: Assignment) => ObservedStatus | undefined,
  counts: (app: string, type: string) => number,
): { plan: Plan; deferred: number } {
  // Most rounds put nothing, or only places new instances: no status needs reading then (the
  // leader's round runs after every batch of its own writes, over every assignment).
  if (plan.put.length === 0) return { plan, deferred: 0 };
  const existing = new Map(current.map((a) => [keyOf(a), a]));

  const put: Assignment[] = [];
  const rollouts = new Map<string, Assignment[]>();
  for (const a of plan.put) {
    const before = existing.get(keyOf(a));
    // A re-put of an instance that is up is a restart to pace; so is one nobody has reported (its
    // status went with its agent's lease: a control-plane outage longer than the TTL, an agent
    // still re-registering), which may well serve. Anything else goes through.
    const seen = before && status(before);
    if (before && (seen === undefined || seen.state === 'up')) {
      const group = `${a.app}/${a.type}`;
      const list = rollouts.get(group);
      if (list) list.push(a);
      else rollouts.set(group, [a]);
    } else {
      put.push(a);
    }
  }
  if (rollouts.size === 0) return { plan, deferred: 0 };

  // Instances already restarting: assigned something their agent does not report up yet
  // (starting, crashed or failing its boot check, re-put by this plan or not), or not reported at
  // all (not known to be up). Counted only in the groups that roll now.
  const removed = new Set(plan.remove.map(keyOf));
  const reput = new Set(plan.put.map(keyOf));
  const restarting = new Map<string, number>();
  for (const a of current) {
    const group = `${a.app}/${a.type}`;
    if (!rollouts.has(group) || removed.has(keyOf(a))) continue;
    const s = status(a);
    const applied = s !== undefined && s.release === a.release && s.restartToken === a.restartToken;
    // Not up, re-put by this plan or not: it is restarting once the plan is written, so the up
    // ones wait for it (a fix goes first to the instances that are not up, then rolls on).
    const failing = s !== undefined && s.state !== 'up';
    const unknown = s === undefined && !reput.has(keyOf(a));
    if (unknown || (s !== undefined && (!applied || s.state === 'starting' || failing))) {
      restarting.set(group, (restarting.get(group) ?? 0) + 1);
    }
  }

  let deferred = 0;
  for (const [group, list] of rollouts) {
    const [app, type] = group.split('/') as [string, string];
    const budget = Math.max(0, rolloutBound(type, counts(app, type)) - (restarting.get(group) ?? 0));
    list.sort((x, y) => (parseInstanceName(x.instance)?.number ?? 0) - (parseInstanceName(y.instance)?.number ?? 0));
    put.push(...list.slice(0, budget));
    deferred += Math.max(0, list.length - budget);
  }
  return { plan: { ...plan, put }, deferred };
}
