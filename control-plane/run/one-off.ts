/**
 * Where a one-off process goes, for `cluster run`, scheduled jobs and release commands. Its
 * name, run.N, comes from the app's counter in etcd (state/run-counter.ts).
 */
import { FailedPreconditionError } from '../errors';
import type { AgentRecord } from '../records';
import type { ClusterView } from '../state/cluster-view';

/** The ready agent with the fewest instances. */
export function pickAgent(view: ClusterView): AgentRecord {
  const load = new Map<string, number>();
  for (const a of view.assignmentList()) load.set(a.agentId, (load.get(a.agentId) ?? 0) + 1);
  const ready = view.agentList().filter((a) => a.state === 'ready' && a.address);
  if (ready.length === 0) throw new FailedPreconditionError('no agent is ready to run a one-off process');
  return ready.reduce((best, a) => ((load.get(a.id) ?? 0) < (load.get(best.id) ?? 0) ? a : best));
}
