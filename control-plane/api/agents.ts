/** agents: every registered server with its instance count. */
import type { ClusterApiHandlers } from '../../proto/gen/cluster/api/ClusterApi';
import type { ApiContext } from './context';
import { unary } from './status';

export function agentHandlers(ctx: ApiContext): Pick<ClusterApiHandlers, 'ListAgents'> {
  return {
    ListAgents: unary(ctx.logger, async () => {
      const counts = new Map<string, number>();
      for (const a of ctx.view.assignmentList()) counts.set(a.agentId, (counts.get(a.agentId) ?? 0) + 1);
      const now = Date.now();
      return {
        agents: ctx.view.agentList().map((a) => {
          const seen = ctx.heartbeats.get(a.id);
          return {
            id: a.id,
            address: a.address,
            datacenter: a.datacenter,
            labels: a.labels,
            state: a.state,
            instances: counts.get(a.id) ?? 0,
            capacity: a.capacity,
            version: a.version,
            heartbeat_age_ms: seen === undefined ? -1 : now - seen,
          };
        }),
      };
    }),
  };
}
