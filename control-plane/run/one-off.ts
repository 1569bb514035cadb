/**
 * Where a one-off process goes, for `cluster run`, scheduled jobs and release commands. Its
 * name, run.N, comes from the app's counter in etcd (state/run-counter.ts).
 */
import { FailedPreconditionError } from '../errors';
import type { AgentRecord } from '../records';
import type { ClusterView } from '../state/cluster-view';

/**
 * The ready agent with the fewest instances and one-offs among those that leave a port of its
 * `--ports` range free: a one-off takes a port too, and an agent whose instances and one-offs
 * hold every port (its capacity defaults to the size of its range) could only refuse it. When no
 * agent has one left, the one with the fewest all the same (it says `no free port in …` unless
 * one of them has stopped meanwhile). Ties go to the first agent by id. One-offs count as each
 * agent's last status report said (`oneoffs/<agentId>`): one started a moment ago may not be
 * counted yet, and an agent it fills refuses the next one at once, before fetching its code;
 * `cluster run` then asks again with that agent in `tried`. An agent of an older version, which
 * does not say how many ports it has, counts its capacity (at most its ports), and reports no
 * one-offs. Undefined when every ready agent was tried.
 */
type PlacementView = Pick<ClusterView, 'assignmentList' | 'agentList' | 'oneOffs'>;
export function pickAgent(view: PlacementView): AgentRecord;
export function pickAgent(view: PlacementView, tried: ReadonlySet<string>): AgentRecord | undefined;
export function pickAgent(view: PlacementView, tried?: ReadonlySet<string>): AgentRecord | undefined {
  const load = new Map<string, number>();
  for (const a of view.assignmentList()) load.set(a.agentId, (load.get(a.agentId) ?? 0) + 1);
  const ready = view.agentList().filter((a) => a.state === 'ready' && a.address);
  if (ready.length === 0) throw new FailedPreconditionError('no agent is ready to run a one-off process');
  const untried = ready.filter((a) => !tried?.has(a.id));
  if (untried.length === 0) return undefined;
  const instances = (a: AgentRecord) => (load.get(a.id) ?? 0) + view.oneOffs(a.id);
  const withPort = untried.filter((a) => instances(a) < (a.ports ?? a.capacity));
  const among = withPort.length > 0 ? withPort : untried;
  return among.reduce((best, a) => (instances(a) < instances(best) ? a : best));
}
