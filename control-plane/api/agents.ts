/** agents, agents:drain, agents:activate, agents:web, agents:remove: every server with its state and instance count. */
import type { ClusterApiHandlers } from '../../proto/gen/cluster/api/ClusterApi';
import type { AgentInfo } from '../../proto/gen/cluster/api/AgentInfo';
import { agentIdProblem } from '../../lib/names';
import { FailedPreconditionError, InvalidArgumentError, NotFoundError } from '../errors';
import type { AgentRecord, DrainRecord, WebToggleRecord } from '../records';
import type { PrefixMirror } from '../etcd/mirror';
import type { ApiContext } from '../rpc/context';
import { unary } from '../rpc/status';
import { AgentRecords } from '../state/agent-records';
import { drainOutlook } from '../scheduler/drain-outlook';
import { staleOf } from './stale';

type AgentState = 'ready' | 'draining' | 'restarting' | 'unreachable' | 'down';

/**
 * Since the agent was last heard, or -1. A live one heard here longer ago than the lease's TTL
 * heartbeats to another replica (its lease is alive): this replica's old figure would make a
 * healthy server look stuck, so -1. One that is gone: when it was heard here, or, when that is
 * older, a TTL before its registration went (`goneAt`: its lease ran out a TTL after its last
 * heartbeat, which every replica sees at once): it may have heartbeat to another replica since.
 */
export function heartbeatAgeMs(seen: number | undefined, live: boolean, now: number, ttlMs: number, goneAt?: number): number {
  const sinceGone = goneAt === undefined ? -1 : now - goneAt + ttlMs;
  if (seen === undefined) return live ? -1 : sinceGone;
  const age = now - seen;
  if (live) return age > ttlMs ? -1 : age;
  return sinceGone >= 0 ? Math.min(age, sinceGone) : age;
}

function info(ctx: ApiContext, a: AgentRecord, state: AgentState, counts: Map<string, number>, now: number): AgentInfo {
  const live = state === 'ready' || state === 'draining';
  return {
    id: a.id,
    address: a.address,
    datacenter: a.datacenter,
    labels: a.labels,
    state,
    instances: counts.get(a.id) ?? 0,
    one_offs: ctx.view.oneOffs(a.id),
    capacity: a.capacity,
    version: a.version,
    heartbeat_age_ms: heartbeatAgeMs(ctx.heartbeats.get(a.id), live, now, ctx.agentTtlMs, ctx.view.goneSince(a.id)),
    web: ctx.view.servesWeb(a.id),
    drained: ctx.view.isDrained(a.id),
  };
}

/**
 * Web off on the agent that runs web instances no other ready agent could take (none runs web,
 * or none that does fits the type's placement rule): they would all wait `pending`, the app
 * unserved. Refused unless forced, as `ps:place` refuses a rule no ready agent fits (a drain, by
 * contrast, keeps what fits nowhere else running).
 */
function refuseLastWeb(ctx: ApiContext, id: string): void {
  const webs = ctx.view.assignmentList({ agentId: id }).filter((a) => a.type === 'web');
  if (webs.length === 0) return;
  const outlook = drainOutlook(id, webs, ctx.view.agentViews(), (app, type) => ctx.view.formation(app).placement?.[type]);
  if (outlook.stuck === 0) return;
  const apps = [...new Set(webs.map((a) => a.app))].sort().map((app) => `\`${app}\``).join(', ');
  const which = outlook.stuck === webs.length ? `the ${webs.length}` : `${outlook.stuck} of the ${webs.length}`;
  const rule = outlook.reason.includes('placement rule') ? ', change the rule (`cluster ps:place`)' : '';
  throw new FailedPreconditionError(
    `${outlook.reason}: ${which} web instance(s) on \`${id}\` (${apps}) would wait pending, unserved; turn web on elsewhere first (\`cluster agents:web ID on\`)${rule}, or pass --force`,
  );
}

/** What `agents:drain` may promise: which of the agent's instances no other ready agent may take. */
function cannotMove(ctx: ApiContext, id: string): Pick<AgentInfo, 'cannot_move' | 'cannot_move_example' | 'cannot_move_reason'> {
  const outlook = drainOutlook(id, ctx.view.assignmentList({ agentId: id }), ctx.view.agentViews(), (app, type) => ctx.view.formation(app).placement?.[type]);
  return { cannot_move: outlook.stuck, cannot_move_example: outlook.example, cannot_move_reason: outlook.reason };
}

function instanceCounts(ctx: ApiContext): Map<string, number> {
  const counts = new Map<string, number>();
  for (const a of ctx.view.assignmentList()) counts.set(a.agentId, (counts.get(a.agentId) ?? 0) + 1);
  return counts;
}

/**
 * An agent that is not registered: while it owns instances (the leader keeps them there),
 * restarting during its restart hold, else unreachable; down once it owns none.
 */
function goneState(ctx: ApiContext, id: string, counts: Map<string, number>): AgentState {
  if ((counts.get(id) ?? 0) === 0) return 'down';
  return ctx.view.restartHold(id) ? 'restarting' : 'unreachable';
}

/** What is known of an agent that is gone: its last registration, else the one its drain kept, else its id alone. */
function lastKnown(ctx: ApiContext, id: string): AgentRecord {
  const record = ctx.view.knownAgent(id) ?? ctx.view.drain(id)?.agent;
  if (record) return { ...record, id };
  return { id, address: '', datacenter: '', labels: {}, capacity: 0, version: '', registeredAtMs: 0, state: 'ready' };
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

export function agentHandlers(ctx: ApiContext): Pick<ClusterApiHandlers, 'ListAgents' | 'DrainAgent' | 'ActivateAgent' | 'SetAgentWeb' | 'RemoveAgent'> {
  const { logger } = ctx;
  const records = new AgentRecords(ctx.client, ctx.keys);

  return {
    // Registered agents (ready or draining), then every agent known from an earlier registration
    // that is gone: unreachable while it still owns instances, then down until `agents:remove`.
    ListAgents: unary(logger, async () => {
      const counts = instanceCounts(ctx);
      const now = Date.now();
      const live = ctx.view.agentList();
      const registered = new Set(live.map((a) => a.id));
      // One that sent its leaving heartbeat is `restarting` at once, not `ready` until its lease runs
      // out. A drained one stays `draining`: its instances move at once, they wait for no restart.
      const out = live.map((a) => info(ctx, a, a.state === 'ready' && ctx.view.isLeaving(a.id) ? 'restarting' : a.state, counts, now));
      // Drained agents that went away before known records existed are known from their drain;
      // an agent that owns instances is listed even when nothing else is known of it.
      for (const id of new Set([...ctx.view.knownAgentIds(), ...ctx.view.drainList().keys(), ...counts.keys()])) {
        if (registered.has(id)) continue;
        out.push(info(ctx, lastKnown(ctx, id), goneState(ctx, id, counts), counts, now));
      }
      return { agents: out.sort((a, b) => ((a.id ?? '') < (b.id ?? '') ? -1 : 1)), stale: staleOf(ctx) };
    }),

    // Only an agent that is gone and owns nothing: its server is gone for good (or it comes back
    // and is known again from its next registration).
    RemoveAgent: unary(logger, async (req) => {
      const id = requireId(req.id);
      const counts = instanceCounts(ctx);
      const owned = counts.get(id) ?? 0;
      const registered = (await records.registered(id)) !== undefined;
      // Stopped on purpose (`agent stop`, a restart): its registration outlives it by up to a lease,
      // and a restart hold keeps its instances; "stop the agent first" would send the user in circles.
      const hold = ctx.view.restartHold(id);
      if (hold && (!registered || ctx.view.isLeaving(id))) {
        if (owned > 0) {
          // The hold's length, not what is left of it: its start is another replica's clock.
          throw new FailedPreconditionError(
            `agent \`${id}\` has stopped and still owns ${owned} instance(s): they stay for its restart hold (${Math.ceil(hold.holdMs / 1000)} s from its stop) in case it starts again, then move to other agents; remove it after that`,
          );
        }
        if (registered) {
          throw new FailedPreconditionError(`agent \`${id}\` has stopped: it is registered until its lease runs out (within ${Math.ceil(ctx.agentTtlMs / 1000)} s); remove it after that`);
        }
      }
      if (registered) {
        throw new FailedPreconditionError(`agent \`${id}\` is registered: stop the agent on its server first (its instances move elsewhere), then remove it`);
      }
      if (owned > 0) {
        throw new FailedPreconditionError(
          `agent \`${id}\` still owns ${owned} instance(s): they move to other agents once it has been gone for the failover grace; remove it after that (\`cluster agents\` shows it \`down\`)`,
        );
      }
      const known = ctx.view.knownAgent(id) !== undefined;
      const drained = ctx.view.isDrained(id);
      const toggled = ctx.view.webToggles.entries.has(ctx.keys.webToggle(id));
      if (!known && !drained && !toggled) throw new NotFoundError(`agent \`${id}\` is not known (see \`cluster agents\`)`);
      const record = lastKnown(ctx, id);
      const revision = await records.removeWhileGone(id);
      if (revision === undefined) throw new FailedPreconditionError(`agent \`${id}\` registered again meanwhile: stop the agent on its server first, then remove it`);
      // Removed already: a failure here leaves the log sources to fade with their lease (a day).
      await records.forgetLogSources(id).catch((err: unknown) => logger.warn({ err, agent: id }, 'could not end the log-source lease of a removed agent; it fades within a day'));
      // The next `cluster agents` no longer lists it: wait for each mirror whose key went.
      const mirrors = [known && ctx.view.knownAgents, drained && ctx.view.drains, toggled && ctx.view.webToggles];
      await Promise.all(mirrors.filter((m): m is PrefixMirror => m !== false).map((m) => seen(ctx, revision, m)));
      logger.info({ agent: id }, 'agent removed: it is no longer listed');
      return info(ctx, record, 'down', counts, Date.now());
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
          return { ...info(ctx, agent, 'draining', instanceCounts(ctx), Date.now()), was_drained: previous !== undefined, ...cannotMove(ctx, id) };
        }
      }
      throw new NotFoundError(`agent \`${id}\` is not registered (see \`cluster agents\`)`);
    }),

    ActivateAgent: unary(logger, async (req) => {
      const id = requireId(req.id);
      const [agent, drain] = await Promise.all([records.registered(id), records.drain(id)]);
      if (!agent && !drain?.record && !ctx.view.knownAgent(id)) throw new NotFoundError(`agent \`${id}\` is not registered (see \`cluster agents\`)`);
      if (drain) {
        await seen(ctx, await records.removeDrain(id));
        logger.info({ agent: id }, 'agent activated: instances may be placed on it again');
      }
      const counts = instanceCounts(ctx);
      // Not drained: nothing written, and the CLI says it was active already (idempotent).
      const wasDrained = { was_drained: drain !== undefined };
      if (agent) return { ...info(ctx, agent, 'ready', counts, Date.now()), ...wasDrained };
      return { ...info(ctx, lastKnown(ctx, id), goneState(ctx, id, counts), counts, Date.now()), ...wasDrained };
    }),

    // The toggle is stored without a lease: it outlives the agent's restarts and re-registrations,
    // and wins over --process-server once written (docs/process-servers.md).
    SetAgentWeb: unary(logger, async (req) => {
      const id = requireId(req.id);
      const [agent, drain, toggle] = await Promise.all([records.registered(id), records.drain(id), records.webToggle(id)]);
      // An agent that is down may be toggled (it was known); an id never seen may not.
      if (!agent && !drain?.record && !toggle && !ctx.view.knownAgent(id)) throw new NotFoundError(`agent \`${id}\` is not registered (see \`cluster agents\`)`);
      const before = toggle?.record?.web !== false;
      // Nothing to write when it is so already. Without a toggle only for an agent that registered
      // before: for one that never did, `on` is written so that --process-server cannot turn it off.
      const unchanged = before === req.web && (toggle?.record !== undefined || agent !== undefined || ctx.view.knownAgent(id) !== undefined);
      if (!unchanged) {
        if (!req.web && before && !req.force) refuseLastWeb(ctx, id);
        const record: WebToggleRecord = { web: req.web, setBy: 'agents:web', setAtMs: Date.now() };
        await seen(ctx, await records.setWebToggle(id, record), ctx.view.webToggles);
        if (before !== req.web) logger.info({ agent: id, web: req.web }, req.web ? 'agent runs web now' : 'agent runs no web now: its web instances move elsewhere');
      }
      const counts = instanceCounts(ctx);
      if (agent) return info(ctx, agent, drain ? 'draining' : 'ready', counts, Date.now());
      return info(ctx, lastKnown(ctx, id), goneState(ctx, id, counts), counts, Date.now());
    }),
  };
}
