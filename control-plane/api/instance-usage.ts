/**
 * CPU and memory in `ps`: asked of the agents that run the instances, in parallel, with a short
 * deadline, at the moment `ps` is asked; never stored in etcd (a write every few seconds per
 * instance would be a storm). An agent that does not answer in time leaves its instances'
 * fields unset (`ps` shows `-`); `ps` never fails for it. docs/metrics.md.
 */
import type * as grpc from '@grpc/grpc-js';
import type { InstanceInfo } from '../../proto/gen/cluster/api/InstanceInfo';
import type { UsageReply__Output } from '../../proto/gen/cluster/agent/UsageReply';
import type { InstanceUsage__Output } from '../../proto/gen/cluster/agent/InstanceUsage';
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
  const running = instances.filter((i) => i.host && i.pid);
  const replies = await usageByHost(deps, app, running.map((i) => i.host!), deadlineMs);
  for (const i of running) {
    const u = replies.get(i.host!)?.get(i.name!);
    if (u && u.pid === i.pid) setUsage(i, u);
  }
}

/**
 * `ps` while etcd cannot be read lists the instances where they were last placed, state
 * `unknown`. Their agents still answer, so each one's live process is asked of them (pid, CPU,
 * memory, in place): an etcd outage does not hide that the instances run.
 */
export async function addLiveProcesses(deps: UsageDeps, app: string, instances: InstanceInfo[], deadlineMs = USAGE_DEADLINE_MS): Promise<void> {
  const placed = instances.filter((i) => i.host);
  const replies = await usageByHost(deps, app, placed.map((i) => i.host!), deadlineMs);
  for (const i of placed) {
    const reply = replies.get(i.host!);
    const u = reply?.get(i.name!);
    if (u) {
      i.pid = u.pid;
      setUsage(i, u);
    }
    const now = u ? 'its agent reports it running' : reply ? 'its agent reports no process for it' : 'its agent did not answer';
    i.reason = `etcd cannot be read: placed here when last known; ${now}`;
  }
}

function setUsage(i: InstanceInfo, u: InstanceUsage__Output): void {
  i.cpu_seconds = u.cpu_seconds;
  i.rss_bytes = u.rss_bytes;
  if (u.cpu_percent !== undefined) i.cpu_percent = u.cpu_percent;
}

/** Each answering host's samples of `app`'s instances by name; hosts that did not answer in time are absent. */
async function usageByHost(deps: UsageDeps, app: string, hosts: string[], deadlineMs: number): Promise<Map<string, Map<string, InstanceUsage__Output>>> {
  const replies = new Map<string, Map<string, InstanceUsage__Output>>();
  if (hosts.length === 0) return replies;
  const agents = new Map(deps.view.agentList().map((a) => [a.id, a]));
  const deadline = Date.now() + deadlineMs;
  await Promise.all(
    [...new Set(hosts)].map(async (host) => {
      const agent = agents.get(host);
      if (!agent?.address) return;
      const reply = await askUsage(deps.dialer, { id: agent.id, address: agent.address }, app, deadline).catch((err: grpc.ServiceError) => {
        deps.logger.debug({ agent: host, err: err.details || err.message }, 'no usage from the agent in time; ps shows none');
        return undefined;
      });
      if (reply) replies.set(host, new Map(reply.instances.filter((u) => u.app === app).map((u) => [u.instance, u])));
    }),
  );
  return replies;
}

function askUsage(dialer: AgentDialer, agent: { id: string; address: string }, app: string, deadline: number): Promise<UsageReply__Output> {
  return new Promise((resolve, reject) => {
    dialer.statsClient(agent).Usage({ app }, { deadline }, (err, reply) => (err || !reply ? reject(err ?? new Error('empty reply')) : resolve(reply)));
  });
}
