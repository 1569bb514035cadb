/**
 * Shared fixtures for the scheduler's unit tests (test/unit/scheduler-*.test.ts): agents, apps,
 * a converged cluster, and small views of a plan.
 */
import { schedule } from '../../control-plane/scheduler/schedule';
import type { AgentView, AppView, Assignment, SchedulerInput } from '../../control-plane/scheduler/types';
import { applyPlan } from './scheduler-plans';

/** A ready agent in dc-a with room for 100 instances, unless `opts` says otherwise. */
export function agent(id: string, opts: Partial<AgentView> = {}): AgentView {
  return { id, datacenter: 'dc-a', labels: {}, capacity: 100, state: 'ready', ...opts };
}

/** An app at release 1 declaring web, worker and clock. */
export function app(name: string, formation: Record<string, number>, opts: Partial<AppView> = {}): AppView {
  return {
    name,
    release: {
      version: 1,
      slug: 'sha-1',
      processTypes: { web: 'node web.js --port $PORT', worker: 'node worker.js', clock: 'node clock.js' },
      env: { NODE_ENV: 'production', LANG: 'en_US.UTF-8' },
    },
    formation,
    restartTokens: {},
    ...opts,
  };
}

export const agents3 = [agent('agent-1'), agent('agent-2'), agent('agent-3')];

/** Assignments of a cluster that has converged on `input`. */
export function converged(input: Omit<SchedulerInput, 'assignments'>): Assignment[] {
  return applyPlan([], schedule({ ...input, assignments: [] }));
}

/** How many of `assignments` sit on each agent. */
export function perAgent(assignments: Array<{ agentId: string }>): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const a of assignments) counts[a.agentId] = (counts[a.agentId] ?? 0) + 1;
  return counts;
}

/** The instance names, in numeric order (`worker.2` before `worker.10`). */
export function names(items: Array<{ instance: string }>): string[] {
  return items.map((i) => i.instance).sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
}
