/**
 * CPU and memory in `ps`: asked of the agents that run the instances, in parallel, with a short
 * deadline, at the moment `ps` is asked; never stored in etcd (a write every few seconds per
 * instance would be a storm). An agent that does not answer in time leaves its instances'
 * fields unset (`ps` shows `-`); `ps` never fails for it. docs/metrics.md.
 */
import type * as grpc from '@grpc/grpc-js';
import type { InstanceInfo } from '../../proto/gen/cluster/api/InstanceInfo';
import type { UsageReply__Output } from '../../proto/gen/cluster/agent/UsageReply';
import type { AgentDialer } from '../agents/agent-dialer';
import type { ClusterView } from '../state/cluster-view';
import type { Logger } from '../../lib/log';

/** How long `ps` waits for the agents' usage. */
export const USAGE_DEADLINE_MS = 1_000;

export interface UsageDeps {
  view: ClusterView;
  dialer: AgentDialer;
  logger: Logger;
}

/**
 * Sets cpu_seconds, rss_bytes and cpu_percent on the running instances of `app` (in place),
 * from their agents' last samples. A sample counts only for the same agent and the same pid
 * as the instance's status (a restarted process is a new one).
 */
export async function addInstanceUsage(deps: UsageDeps, app: string, instances: InstanceInfo[], deadlineMs = USAGE_DEADLINE_MS): Promise<void> {
  const byHost = new Map<string, InstanceInfo[]>();
  for (const i of instances) {
    if (!i.host || !i.pid) continue;
    const list = byHost.get(i.host);
    if (list) list.push(i);
    else byHost.set(i.host, [i]);
  }
  if (byHost.size === 0) return;
  const agents = new Map(deps.view.agentList().map((a) => [a.id, a]));
  const deadline = Date.now() + deadlineMs;
  await Promise.all(
    [...byHost].map(async ([host, list]) => {
      const agent = agents.get(host);
      if (!agent?.address) return;
      const reply = await askUsage(deps.dialer, { id: agent.id, address: agent.address }, app, deadline).catch((err: grpc.ServiceError) => {
        deps.logger.debug({ agent: host, err: err.details || err.message }, 'no usage from the agent in time; ps shows none');
        return undefined;
      });
      if (!reply) return;
      const samples = new Map(reply.instances.filter((u) => u.app === app).map((u) => [`${u.instance}/${u.pid}`, u]));
      for (const i of list) {
        const u = samples.get(`${i.name}/${i.pid}`);
        if (!u) continue;
        i.cpu_seconds = u.cpu_seconds;
        i.rss_bytes = u.rss_bytes;
        if (u.cpu_percent !== undefined) i.cpu_percent = u.cpu_percent;
      }
    }),
  );
}

function askUsage(dialer: AgentDialer, agent: { id: string; address: string }, app: string, deadline: number): Promise<UsageReply__Output> {
  return new Promise((resolve, reject) => {
    dialer.statsClient(agent).Usage({ app }, { deadline }, (err, reply) => (err || !reply ? reject(err ?? new Error('empty reply')) : resolve(reply)));
  });
}
