/** agents, agents:drain, agents:activate, agents:web: every server with its state and instance count. */
import type { ClusterApiHandlers } from '../../proto/gen/cluster/api/ClusterApi';
import type { AgentInfo } from '../../proto/gen/cluster/api/AgentInfo';
import { agentIdProblem } from '../../lib/names';
import { InvalidArgumentError, NotFoundError } from '../errors';
import type { AgentRecord, DrainRecord, WebToggleRecord } from '../records';
import type { PrefixMirror } from '../etcd/mirror';
import type { ApiContext } from '../rpc/context';
import { unary } from '../rpc/status';
import { AgentRecords } from '../state/agent-records';
import { staleOf } from './stale';

type AgentState = 'ready' | 'draining' | 'unreachable' | 'down';

function info(ctx: ApiContext, a: AgentRecord, state: AgentState, counts: Map<string, number>, now: number): AgentInfo {
  const seen = state === 'down' || state === 'unreachable' ? undefined : ctx.heartbeats.get(a.id);
  return {
    id: a.id,
    address: a.address,
    datacenter: a.datacenter,
    labels: a.labels,
    state,
    instances: counts.get(a.id) ?? 0,
    capacity: a.capacity,
    version: a.version,
    heartbeat_age_ms: seen === undefined ? -1 : now - seen,
    web: ctx.view.servesWeb(a.id),
  };
}

function instanceCounts(ctx: ApiContext): Map<string, number> {
  const counts = new Map<string, number>();
  for (const a of ctx.view.assignmentList()) counts.set(a.agentId, (counts.get(a.agentId) ?? 0) + 1);
  return counts;
}

/**
 * Waits (a little) until this replica's mirror (of drains, by default) shows a write of ours, so
 * that the next `cluster agents` — answered from that mirror — already shows it.
 */
async function seen(ctx: ApiContext, revision: string, mirror: PrefixMirror = ctx.view.drains): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    mirror.waitForRevision(Number(revision)),
    new Promise((resolve) => (timer = setTimeout(resolve, 5_000))),
  ]);
  clearTimeout(timer);
}

function requireId(id: string): string {
  const problem = agentIdProblem(id);
  if (problem) throw new InvalidArgumentError(problem);
  return id;
}

export function agentHandlers(ctx: ApiContext): Pick<ClusterApiHandlers, 'ListAgents' | 'DrainAgent' | 'ActivateAgent' | 'SetAgentWeb'> {
  const { logger } = ctx;
  const records = new AgentRecords(ctx.client, ctx.keys);

  return {
    // Registered agents (ready or draining), then drained agents that are gone (down): a drained
    // host that was switched off stays listed until `agents:activate`.
    ListAgents: unary(logger, async () => {
      const counts = instanceCounts(ctx);
      const now = Date.now();
      const live = ctx.view.agentList();
      const ids = new Set(live.map((a) => a.id));
      const out = live.map((a) => info(ctx, a, a.state, counts, now));
      // Gone but still owning instances: the leader keeps them there until the agent comes back or
      // its grace ends (leader/agent-liveness.ts), then moves them and the agent owns nothing.
      const gone = (id: string): AgentState => ((counts.get(id) ?? 0) > 0 ? 'unreachable' : 'down');
      for (const [id, drain] of ctx.view.drainList()) {
        if (ids.has(id)) continue;
        ids.add(id);
        out.push(info(ctx, { ...drain.agent, id }, gone(id), counts, now));
      }
      for (const id of counts.keys()) {
        if (ids.has(id)) continue;
        const unknown = { id, address: '', datacenter: '', labels: {}, capacity: 0, version: '', registeredAtMs: 0, state: 'ready' as const };
        out.push(info(ctx, unknown, 'unreachable', counts, now));
      }
      return { agents: out.sort((a, b) => ((a.id ?? '') < (b.id ?? '') ? -1 : 1)), stale: staleOf(ctx) };
    }),

    DrainAgent: unary(logger, async (req) => {
      const id = requireId(req.id);
      for (let attempt = 0; attempt < 5; attempt++) {
        const agent = await records.registered(id);
        if (!agent) throw new NotFoundError(`agent \`${id}\` is not registered (see \`cluster agents\`)`);
        const previous = (await records.drain(id))?.record;
        const record: DrainRecord = { drainedAtMs: previous?.drainedAtMs ?? Date.now(), agent };
        const revision = await records.drainWhileRegistered(id, record);
        if (revision !== undefined) {
          await seen(ctx, revision);
          if (!previous) logger.info({ agent: id }, 'agent drained: its instances move elsewhere');
          return info(ctx, agent, 'draining', instanceCounts(ctx), Date.now());
        }
      }
      throw new NotFoundError(`agent \`${id}\` is not registered (see \`cluster agents\`)`);
    }),

    ActivateAgent: unary(logger, async (req) => {
      const id = requireId(req.id);
      const [agent, drain] = await Promise.all([records.registered(id), records.drain(id)]);
      const drained = drain?.record;
      if (!agent && !drained) throw new NotFoundError(`agent \`${id}\` is not registered (see \`cluster agents\`)`);
      if (drain) {
        await seen(ctx, await records.removeDrain(id));
        logger.info({ agent: id }, 'agent activated: instances may be placed on it again');
      }
      const known = agent ?? { ...drained!.agent, id };
      return info(ctx, known, agent ? 'ready' : 'down', instanceCounts(ctx), Date.now());
    }),

    // The toggle is stored without a lease: it outlives the agent's restarts and re-registrations,
    // and wins over --process-server once written (docs/process-servers.md).
    SetAgentWeb: unary(logger, async (req) => {
      const id = requireId(req.id);
      const [agent, drain, toggle] = await Promise.all([records.registered(id), records.drain(id), records.webToggle(id)]);
      const drained = drain?.record;
      // A process server that is down may be toggled (it was known); an id never seen may not.
      if (!agent && !drained && !toggle) throw new NotFoundError(`agent \`${id}\` is not registered (see \`cluster agents\`)`);
      const before = toggle?.record?.web !== false;
      const record: WebToggleRecord = { web: req.web, setBy: 'agents:web', setAtMs: Date.now() };
      await seen(ctx, await records.setWebToggle(id, record), ctx.view.webToggles);
      if (before !== req.web) logger.info({ agent: id, web: req.web }, req.web ? 'agent runs web now' : 'agent runs no web now: its web instances move elsewhere');
      const known = agent ?? (drained ? { ...drained.agent, id } : undefined);
      const state: AgentState = agent ? (drained ? 'draining' : 'ready') : 'down';
      const counts = instanceCounts(ctx);
      if (known) return info(ctx, known, state, counts, Date.now());
      const unknown = { id, address: '', datacenter: '', labels: {}, capacity: 0, version: '', registeredAtMs: 0, state: 'ready' as const };
      return info(ctx, unknown, (counts.get(id) ?? 0) > 0 ? 'unreachable' : 'down', counts, Date.now());
    }),
  };
}
