/**
 * What the scheduler is asked to place: a snapshot of the apps (with their current release and
 * formation), the agents (registered ones plus those still within their grace) and the assignments.
 */
import type { ClusterView } from '../state/cluster-view';
import type { AgentView, AppView, Assignment, SchedulerInput } from '../scheduler/types';

/** The agents not registered that still own instances within their grace (unreachable-agents.ts). */
export type Unreachable = (registered: AgentView[], assignments: Assignment[]) => AgentView[];

/** Takes the scheduler's input from the cluster view. */
export async function schedulerInput(view: ClusterView, unreachable: Unreachable): Promise<SchedulerInput> {
  const apps: AppView[] = [];
  for (const app of view.appList()) {
    const formation = view.formation(app.name);
    const release = await view.release(app);
    apps.push({
      name: app.name,
      release: release && {
        version: release.version,
        slug: release.slug,
        processTypes: release.processTypes,
        env: release.env,
      },
      formation: formation.counts,
      restartTokens: formation.restartTokens,
      graceMs: formation.graceMs,
      bootTimeoutMs: formation.bootTimeoutMs,
      logModes: formation.logModes,
      placement: formation.placement,
    });
  }
  const agents = view.agentViews();
  const assignments = view.assignmentList();
  agents.push(...unreachable(agents, assignments));
  return { apps, agents, assignments };
}
