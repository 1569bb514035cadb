/**
 * Which agents a `cluster logs` call asks (logs-handler.ts): those that keep lines of the app
 * (their log-source records), each as registered now; a host that is not is named in a warning.
 */
import type { AgentRecord } from '../records';
import type { ApiContext } from '../rpc/context';
import type { AgentRecords } from '../state/agent-records';
import { logSourceHosts } from '../state/log-sources';

/**
 * The agent to ask: from this replica's mirror, or from etcd when the mirror does not show it
 * yet (an agent that registered a moment ago puts its log sources with its registration, and
 * this replica's watch may be a step behind); undefined when it is not registered.
 */
export async function registeredAgent(ctx: ApiContext, registrations: AgentRecords, id: string): Promise<AgentRecord | undefined> {
  const mirrored = ctx.view.agent(id);
  if (mirrored?.address) return mirrored;
  const record = await registrations.registered(id);
  return record?.address ? record : undefined;
}

/**
 * The registered agents keeping lines of `app` (only `host` when given), and the revision of
 * the log sources read (a follow watches them from there); `warn` names the hosts left out.
 */
export async function hostsToAsk(
  ctx: ApiContext,
  registrations: AgentRecords,
  app: string,
  host: string,
  warn: (text: string) => void,
): Promise<{ hosts: AgentRecord[]; revision: string }> {
  const read = await logSourceHosts(ctx.client, ctx.keys, app);
  const sources = read.hosts.filter((id) => !host || id === host);
  if (host && sources.length === 0 && !(await registeredAgent(ctx, registrations, host))) {
    // A typo names the hosts that do keep lines of the app.
    const kept = read.hosts.length > 0 ? ` (lines of \`${app}\` are kept on ${read.hosts.join(', ')})` : '';
    warn(`no live agent \`${host}\`${kept}`);
  }
  const found = await Promise.all(sources.map(async (id) => ({ id, agent: await registeredAgent(ctx, registrations, id) })));
  for (const { id, agent } of found) {
    if (!agent) warn(`host ${id} keeps lines of \`${app}\` but is not registered now (its agent is stopped, restarting or cut off): its lines are not shown`);
  }
  return { hosts: found.flatMap(({ agent }) => (agent ? [agent] : [])), revision: read.revision };
}
