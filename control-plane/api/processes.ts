/** scale, ps, restart, and the per-type settings (grace, boot timeout, log mode). */
import type { ClusterApiHandlers } from '../../proto/gen/cluster/api/ClusterApi';
import type { InstanceInfo } from '../../proto/gen/cluster/api/InstanceInfo';
import { CANNOT_MOVE_OFF_DRAINED } from '../../lib/drain';
import { parseInstanceName } from '../../lib/names';
import { isOneOffType } from '../../lib/one-off';
import type { AppRecord, ReleaseRecord, StatusRecord } from '../records';
import type { Assignment } from '../scheduler/types';
import type { ApiContext } from '../rpc/context';
import { InstanceStatusReader, isOutdated } from '../state/instance-status';
import { asEtcdOutage } from '../etcd/outage';
import type { PsReply } from '../../proto/gen/cluster/api/PsReply';
import { unary } from '../rpc/status';
import { requestIdOf } from '../rpc/request-id';
import { addInstanceUsage, addLiveProcesses } from './instance-usage';

/** A pending instance's reason while the leader's last word on it predates an agent's registration. */
const PLACING_ON_NEW_AGENTS = 'waiting for the scheduler: an agent registered since it last tried to place this instance';

export function processHandlers(
  ctx: ApiContext,
): Pick<ClusterApiHandlers, 'Scale' | 'Ps' | 'Restart' | 'SetGrace' | 'SetBootTimeout' | 'SetLogMode' | 'GetTypeSettings'> {
  return {
    GetTypeSettings: unary(ctx.logger, async (req) => {
      const formation = await ctx.store.getFormation(req.app);
      return {
        grace: inSeconds(formation.graceMs ?? {}),
        boot_timeouts: inSeconds(formation.bootTimeoutMs ?? {}),
        log_modes: modeSettings(formation.logModes ?? {}),
      };
    }),
    SetLogMode: unary(ctx.logger, async (req) => ({ settings: modeSettings(await ctx.store.setLogMode(req.app, req.settings)) })),
    SetBootTimeout: unary(ctx.logger, async (req) => ({ settings: inSeconds(await ctx.store.setBootTimeout(req.app, req.settings)) })),
    SetGrace: unary(ctx.logger, async (req) => ({ settings: inSeconds(await ctx.store.setGrace(req.app, req.settings)) })),
    Scale: unary(ctx.logger, async (req, call) => {
      // A retry of a call that was applied answers the same formation (docs/high-availability.md#retries-never-apply-twice).
      const counts = await ctx.store.scale(req.app, req.changes, requestIdOf(call));
      ctx.logger.info({ app: req.app, formation: counts }, 'formation changed');
      return { formation: Object.entries(counts).map(([type, count]) => ({ type, count })) };
    }),
    Ps: unary(ctx.logger, (req) => (req.states_only ? psFromEtcdOrLastKnown(ctx, req.app) : psWithUsage(ctx, req.app))),
    Restart: unary(ctx.logger, async (req, call) => {
      const token = await ctx.store.restart(req.app, req.target, requestIdOf(call));
      const wanted = (name: string) =>
        req.target === '' || name === req.target || parseInstanceName(name)?.type === req.target;
      // Once each: an instance being moved (a drain, a placement rule) is assigned to two agents until its new copy is up.
      const names = new Set(ctx.view.assignmentList({ app: req.app }).map((a) => a.instance).filter(wanted));
      return { instances: [...names].sort(), token };
    }),
  };
}

/** Per-type durations as stored (ms) in the API's settings (seconds). */
function inSeconds(msByType: Record<string, number>): Array<{ type: string; seconds: number }> {
  return Object.entries(msByType).map(([type, ms]) => ({ type, seconds: ms / 1000 }));
}

/** Per-type log modes as the API's settings. */
function modeSettings(modes: Record<string, string>): Array<{ type: string; mode: string }> {
  return Object.entries(modes).map(([type, mode]) => ({ type, mode }));
}

/**
 * What `ps` answers (the gRPC handler, and any other front end in-process such as a dashboard):
 * every instance from etcd with its CPU and memory from its agent (instance-usage.ts); while etcd
 * cannot be read, where this replica last saw them, marked stale, with the process each agent
 * reports running now. Throws the API's errors
 * (unknown app …) as the handler does.
 */
export async function psWithUsage(ctx: ApiContext, app: string): Promise<PsReply> {
  const reply = await psFromEtcdOrLastKnown(ctx, app);
  if (!reply.stale) await addInstanceUsage(ctx, reply.app ?? app, reply.instances ?? []);
  else await addLiveProcesses(ctx, reply.app ?? app, reply.instances ?? []);
  return reply;
}

/** `ps` without usage (`states_only`): from etcd or, while etcd cannot be read, as last known. */
async function psFromEtcdOrLastKnown(ctx: ApiContext, app: string): Promise<PsReply> {
  try {
    return await ctx.health.throughBlips(() => psFromEtcd(ctx, app));
  } catch (err) {
    const outage = asEtcdOutage(err);
    const fallback = outage && lastKnownPs(ctx, app, outage.message);
    if (fallback) return fallback;
    throw err;
  }
}

/** `ps` from etcd: every instance with the state its agent reports (no usage: see psWithUsage). */
export async function psFromEtcd(ctx: ApiContext, name: string): Promise<PsReply> {
  const statuses = new InstanceStatusReader(ctx.client, ctx.keys);
  // The formation as stored, not as this replica's mirror last saw it: `scale --wait` polls `ps`
  // at once, and a mirror a write behind would show the old formation as reached.
  const { app, formation: stored } = await ctx.store.getAppAndFormation(name);
  const formation = stored.counts;
  const release = await ctx.view.release(app);
  const desired: Array<{ name: string; type: string }> = [];
  for (const [type, count] of Object.entries(formation)) {
    if (!release || !(type in release.processTypes)) continue;
    for (let n = 1; n <= count; n++) desired.push({ name: `${type}.${n}`, type });
  }
  return {
    app: app.name,
    instances: await listInstances(ctx, statuses, app, desired, release),
    formation: Object.entries(formation).map(([type, count]) => ({ type, count })),
    process_types: Object.keys(release?.processTypes ?? {}).sort(),
    restart_tokens: { by_target: stored.restartTokens ?? {} },
  };
}

/**
 * `ps` while etcd cannot be read: where this replica last saw each instance, state `unknown`,
 * marked stale; undefined when the app is not in this replica's view either.
 */
function lastKnownPs(ctx: ApiContext, name: string, reason: string): PsReply | undefined {
  const app = ctx.view.appList().find((a) => a.name === name);
  if (!app) return undefined;
  const formation = ctx.view.formation(app.name).counts;
  const instances: InstanceInfo[] = ctx.view.assignmentList({ app: app.name }).map((a) => ({
    name: a.instance,
    type: a.type,
    host: a.agentId,
    release: a.release,
    state: 'unknown',
    reason: 'etcd cannot be read: placed here when last known',
  }));
  const ageMs = Math.max(1, ctx.health.staleness(Date.now())?.ageMs ?? 1);
  return {
    app: app.name,
    instances: instances.sort(byName),
    formation: Object.entries(formation).map(([type, count]) => ({ type, count })),
    stale: { stale_ms: ageMs, reason },
  };
}

/**
 * Every instance of an app: desired ones (assigned or pending) with the state their
 * agent reports, plus instances still stopping after a scale-down.
 */
async function listInstances(
  ctx: ApiContext,
  reader: InstanceStatusReader,
  appRecord: AppRecord,
  desired: Array<{ name: string; type: string }>,
  /** The running release (assignments name their release, not its command). */
  current: ReleaseRecord | undefined,
): Promise<InstanceInfo[]> {
  const app = appRecord.name;
  const [reported, unplacedList] = await Promise.all([reader.reported(app), reader.unplaced(app)]);
  // By instance and agent: an instance that moves is reported by two agents.
  const statuses = new Map<string, { instance: string; status: StatusRecord }>();
  for (const r of reported) statuses.set(`${r.instance}/${r.agentId}`, { instance: r.instance, status: r.status });
  // Each instance's command is its own release's: during a rollout, or one stuck on a crash
  // loop of the new release, the instances not rolled yet still run the old command.
  const commands = new Map<number, Record<string, string>>();
  if (current) commands.set(current.version, current.processTypes);
  const versions = new Set(ctx.view.assignmentList({ app }).map((a) => statuses.get(`${a.instance}/${a.agentId}`)?.status.release || a.release));
  await Promise.all([...versions].filter((v) => v > 0 && !commands.has(v)).map(async (v) => {
    commands.set(v, (await ctx.view.release(appRecord, v))?.processTypes ?? current?.processTypes ?? {});
  }));

  const out = new Map<string, InstanceInfo>();
  const drained = ctx.view.drainList();
  const unplaced = new Map(unplacedList.instances.map((u) => [u.instance, u]));
  // A list made before the newest registration is of agents that are no longer all there is:
  // its reasons ("no agents registered") would stop `scale --wait` while the leader, which places
  // after a settling wait once an agent joins (leader/round-timing.ts), is about to place them.
  const outdated = isOutdated(unplacedList, ctx.view.agentsRevision());
  // An instance on a drained agent that fits nowhere else keeps running there (leader/moves.ts).
  const stuckReason = (instance: string, agentId: string) => {
    const u = drained.has(agentId) ? unplaced.get(instance) : undefined;
    return u && `${CANNOT_MOVE_OFF_DRAINED} ${agentId}: ${u.reason}`;
  };
  // No status: either just assigned (`starting`), or its agent's statuses went with its lease
  // (e.g. while etcd or every replica was away longer than the TTL) and the leader keeps the
  // instance there for the agent's grace (leader/agent-liveness.ts): `unknown`, since the process
  // may well still run, until the agent registers again and then reports it.
  const unreported = (a: Assignment): { state: string; reason: string } => {
    if (!ctx.view.isRegistered(a.agentId)) {
      const hold = ctx.view.restartHold(a.agentId);
      if (hold) return { state: 'unknown', reason: `${a.agentId} is restarting; kept there for its restart hold (${hold.holdMs / 1000} s)` };
      return { state: 'unknown', reason: `${a.agentId} is unreachable; kept there while it may reconnect` };
    }
    if (ctx.view.assignedBeforeRegistration(a)) return { state: 'unknown', reason: `${a.agentId} registered again; waiting for it to report` };
    return { state: 'starting', reason: 'assigned; waiting for the agent to report' };
  };
  for (const a of ctx.view.assignmentList({ app })) {
    const reportedStatus = statuses.get(`${a.instance}/${a.agentId}`)?.status;
    statuses.delete(`${a.instance}/${a.agentId}`);
    // The process of a destroyed app of the same name, still stopping where this app's instance
    // of the same name is placed: not this app's (its pid, release and command are the old app's).
    const status = reportedStatus && isDestroyedAppsStopping(reportedStatus, appRecord) ? undefined : reportedStatus;
    // An instance that moves (drain, placement rule) runs on two hosts until the new copy is
    // up: show the copy that serves, the new one once it is up.
    const shown = out.get(a.instance);
    const { state, reason } = status ?? (reportedStatus ? { state: 'starting', reason: `assigned; the destroyed app's ${a.instance} (pid ${reportedStatus.pid}) is still stopping there` } : unreported(a));
    if (shown && !(rank(state) > rank(shown.state) || (rank(state) === rank(shown.state) && drained.has(shown.host ?? '')))) continue;
    const release = status?.release || a.release;
    out.set(a.instance, {
      name: a.instance,
      type: a.type,
      host: a.agentId,
      command: (commands.get(release) ?? current?.processTypes)?.[a.type] ?? '',
      release,
      state,
      pid: status?.pid ?? 0,
      restarts: status?.restarts ?? 0,
      started_at_ms: status?.startedAtMs ?? 0,
      reason: stuckReason(a.instance, a.agentId) ?? reason,
      port: status?.port ?? 0,
      restart_token: status?.restartToken ?? '',
    });
  }
  for (const u of unplaced.values()) {
    if (out.has(u.instance)) continue;
    out.set(u.instance, { name: u.instance, type: u.type, state: 'pending', reason: outdated ? PLACING_ON_NEW_AGENTS : u.reason });
  }
  for (const d of desired) {
    if (!out.has(d.name)) out.set(d.name, { name: d.name, type: d.type, state: 'pending', reason: 'waiting for the scheduler' });
  }
  // Left: instances an agent still reports but no longer owns (stopping after scale-down or a move).
  for (const { instance, status } of statuses.values()) {
    if (out.has(instance)) continue;
    // A process started before the app was created is one of a destroyed app of the same name,
    // still stopping: not this app's.
    if (startedBeforeApp(status, appRecord)) continue;
    const type = parseInstanceName(instance)?.type ?? instance;
    const oneOff = isOneOffType(type);
    out.set(instance, {
      name: instance,
      type,
      host: status.agentId,
      state: oneOff ? status.state : 'stopping',
      command: status.command ?? '',
      pid: status.pid,
      restarts: status.restarts,
      started_at_ms: status.startedAtMs,
      reason: oneOff ? status.reason || 'one-off process' : 'no longer assigned', // a scheduled run names its job
      release: status.release,
      port: status.port,
      restart_token: status.restartToken ?? '',
    });
  }
  return [...out.values()].sort(byName);
}

function startedBeforeApp(status: StatusRecord, appRecord: AppRecord): boolean {
  return status.startedAtMs > 0 && status.startedAtMs < appRecord.createdAtMs;
}

/**
 * Reported for an instance this app has placed: a stopping process started before the app was
 * created, a destroyed app's of the same name. (Only a stopping one is taken for it: the agent's
 * clock may be behind the control plane's, and a process of this app that runs is never hidden.)
 */
function isDestroyedAppsStopping(status: StatusRecord, appRecord: AppRecord): boolean {
  return status.state === 'stopping' && startedBeforeApp(status, appRecord);
}

const RANKS: Record<string, number> = { up: 3, starting: 2, crashed: 1 };
function rank(state: string | undefined): number {
  return RANKS[state ?? ''] ?? 0;
}

function byName(a: InstanceInfo, b: InstanceInfo): number {
  const x = parseInstanceName(a.name ?? '');
  const y = parseInstanceName(b.name ?? '');
  if (x && y) return x.type === y.type ? x.number - y.number : x.type.localeCompare(y.type);
  return (a.name ?? '').localeCompare(b.name ?? '');
}
