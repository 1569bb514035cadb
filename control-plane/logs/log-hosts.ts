/**
 * Which agents a `cluster logs` call asks (logs-handler.ts): those that keep lines of the app
 * (their log-source records), each as registered now; a host that is not is named in a warning.
 * Without a follow, a host whose agent is restarting (its restart hold lives) is waited for, a
 * little: `cluster logs` just after an agent upgrade shows that host's lines rather than a
 * warning. A follow does not wait: the host joins it once registered (logs-handler.ts).
 */
import type { AgentRecord } from '../records';
import type { ApiContext } from '../rpc/context';
import type { AgentRecords } from '../state/agent-records';
import { logSourceHosts } from '../state/log-sources';

/**
 * Longest a call waits for restarting hosts to register again: well above an agent's restart on
 * a loaded machine (1–3 s). The history timeout (logs-handler.ts) starts after it.
 */
const RESTARTING_WAIT_MS = 8_000;
const RESTARTING_POLL_MS = 50;

/**
 * Whether agent `id` is between two runs: registered but leaving under its restart hold, or
 * not registered while the hold lives (its next run has not registered yet).
 */
function restarting(ctx: ApiContext, id: string): boolean {
  return ctx.view.isLeaving(id) || (!ctx.view.isRegistered(id) && ctx.view.restartHold(id) !== undefined);
}

/** Waits until none of `ids` is restarting, at most `waitMs` (or until `over()`). Returns those still restarting. */
async function nextRuns(ctx: ApiContext, ids: string[], waitMs: number, over: () => boolean): Promise<Set<string>> {
  const deadline = Date.now() + waitMs;
  let waiting = ids.filter((id) => restarting(ctx, id));
  while (waiting.length > 0 && Date.now() < deadline && !over()) {
    await new Promise((resolve) => setTimeout(resolve, RESTARTING_POLL_MS));
    waiting = waiting.filter((id) => restarting(ctx, id));
  }
  return new Set(waiting);
}

/**
 * The agent to ask: from this replica's mirror, or from etcd when the mirror does not show it
 * yet (an agent that registered a moment ago puts its log sources with its registration, and
 * this replica's watch may be a step behind); undefined when it is not registered.
 */
export async function registeredAgent(ctx: ApiContext, registrations: AgentRecords, id: string): Promise<AgentRecord | undefined> {
  const mirrored = ctx.view.agent(id);
  if (mirrored?.address) return mirrored;
  return registeredNow(registrations, id);
}

/** The agent as etcd has it registered now, with an address to dial; undefined when it is not. */
export async function registeredNow(registrations: AgentRecords, id: string): Promise<AgentRecord | undefined> {
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
  /** Whether to wait for restarting hosts (not for a follow), and when the call ended meanwhile. */
  restarts: { wait: boolean; over: () => boolean } = { wait: false, over: () => false },
): Promise<{ hosts: AgentRecord[]; revision: string }> {
  const read = await logSourceHosts(ctx.client, ctx.keys, app);
  const sources = read.hosts.filter((id) => !host || id === host);
  const stillRestarting = restarts.wait ? await nextRuns(ctx, sources, RESTARTING_WAIT_MS, restarts.over) : new Set<string>();
  if (host && sources.length === 0 && !(await registeredAgent(ctx, registrations, host))) {
    // A typo names the hosts that do keep lines of the app.
    const kept = read.hosts.length > 0 ? ` (lines of \`${app}\` are kept on ${read.hosts.join(', ')})` : '';
    warn(`no live agent \`${host}\`${kept}`);
  }
  const found = await Promise.all(
    sources.map(async (id) => ({ id, agent: stillRestarting.has(id) ? undefined : await registeredAgent(ctx, registrations, id) })),
  );
  for (const { id, agent } of found) {
    if (stillRestarting.has(id)) warn(`host ${id} keeps lines of \`${app}\` but its agent is restarting and did not register again within ${RESTARTING_WAIT_MS / 1000} s: its lines are not shown`);
    else if (!agent) warn(`host ${id} keeps lines of \`${app}\` but is not registered now (its agent is stopped, restarting or cut off): its lines are not shown`);
  }
  return { hosts: found.flatMap(({ agent }) => (agent ? [agent] : [])), revision: read.revision };
}
