/**
 * ps:stop and ps:kill of one instance, as on Heroku: a formation instance (worker.3) is
 * replaced — stop restarts it (SIGTERM, grace, SIGKILL, start again, like a one-instance
 * restart), kill sends SIGKILL to its process group and its supervisor starts it again —
 * while a one-off process (run.7) ends.
 */
import type { ClusterApiHandlers } from '../../proto/gen/cluster/api/ClusterApi';
import type { StopInstanceReply } from '../../proto/gen/cluster/api/StopInstanceReply';
import { callUnary } from '../../lib/grpc-call';
import { parseInstanceName } from '../../lib/names';
import { isOneOffType } from '../../lib/one-off';
import { own } from '../../lib/own';
import { FailedPreconditionError, InvalidArgumentError, noSuchInstance, NotFoundError } from '../errors';
import type { ApiContext } from '../rpc/context';
import { unary } from '../rpc/status';
import { requestIdOf } from '../rpc/request-id';
import { InstanceStatusReader } from '../state/instance-status';
import { requireDeployedType, typesItHas } from '../state/release-types';

const AGENT_CALL_TIMEOUT_MS = 5_000;

export function stopInstanceHandler(ctx: ApiContext): ClusterApiHandlers['StopInstance'] {
  return unary(ctx.logger, async (req, call) => {
    const reply = await stopInstance(ctx, req.app, req.instance, req.kill, requestIdOf(call));
    ctx.logger.info({ app: req.app, instance: req.instance, kill: req.kill, host: reply.host }, 'instance stopped on request');
    return reply;
  });
}

async function stopInstance(ctx: ApiContext, appName: string, instance: string, kill: boolean, requestId?: string): Promise<StopInstanceReply> {
  const app = await ctx.store.getApp(appName);
  const parsed = parseInstanceName(instance);
  if (!parsed) {
    throw new InvalidArgumentError(`\`${instance}\` is not an instance name: give one like worker.3 or run.7 (see \`cluster ps -a ${app.name}\`)`);
  }
  if (isOneOffType(parsed.type)) return stopOneOff(ctx, app.name, instance, kill, requestId);

  const [formation, releases] = await Promise.all([ctx.store.getFormation(app.name), ctx.store.runningAndNewest(app.name, app)]);
  requireDeployedType(app.name, releases, parsed.type);
  const release = releases.running;
  if (!release || !Object.hasOwn(release.processTypes, parsed.type)) {
    throw new NotFoundError(`\`${parsed.type}\` is not a process type of \`${app.name}\` (${release ? typesItHas(release) : 'it has no release deployed yet'})`);
  }
  const count = own(formation.counts, parsed.type) ?? 0;
  if (parsed.number > count) throw noSuchInstance(app.name, instance, parsed.type, count);
  const placed = ctx.view.assignmentList({ app: app.name }).filter((a) => a.instance === instance);
  if (!kill) {
    // A restart of this one instance: the agent stops it with its grace period and starts it again.
    await ctx.store.restart(app.name, instance, requestId);
    return { instance, host: placed[0]?.agentId ?? '', one_off: false };
  }
  // An instance that moves runs on two hosts until the new copy is up: kill every copy.
  const hosts = placed.map((a) => a.agentId);
  if (hosts.length === 0) throw new FailedPreconditionError(`${instance} of \`${app.name}\` is not placed on any host yet: nothing to kill`);
  const found = await signalOnHosts(ctx, app.name, instance, hosts, true, requestId);
  if (found.length === 0) throw new FailedPreconditionError(`${instance} of \`${app.name}\` has no running process on ${hosts.join(', ')}: nothing to kill`);
  return { instance, host: found.join(','), one_off: false };
}

/**
 * A one-off process ends: SIGTERM then SIGKILL after a grace period, or (kill) SIGKILL at once.
 * An agent reports a one-off `starting` while it fetches the release's code, and asked to stop
 * it then, it never starts the command (docs/architecture.md, "Stopping one instance"). One not
 * reported yet (that report on its way, an agent of an older version) may be starting too: the
 * control plane knows where it sent a release command or a job's run, and asks that agent.
 */
async function stopOneOff(ctx: ApiContext, app: string, instance: string, kill: boolean, requestId?: string): Promise<StopInstanceReply> {
  const reporting = await new InstanceStatusReader(ctx.client, ctx.keys).reportingAgents(app, instance);
  const hosts = reporting.length > 0 ? reporting : await startingOn(ctx, app, instance);
  const found = hosts.length === 0 ? [] : await signalOnHosts(ctx, app, instance, hosts, kill, requestId);
  if (found.length === 0) throw new NotFoundError(`no one-off process ${instance} of \`${app}\` is running (see \`cluster ps -a ${app}\`)`);
  return { instance, host: found.join(','), one_off: true };
}

/** The agent a leader sent release.N (its release phase) or a job's run.N to, while it has not ended. */
async function startingOn(ctx: ApiContext, app: string, instance: string): Promise<string[]> {
  const parsed = parseInstanceName(instance);
  if (parsed?.type === 'release') {
    const phase = (await ctx.store.getRelease(app, parsed.number))?.phase;
    return phase?.state === 'running' && phase.agentId ? [phase.agentId] : [];
  }
  const jobs = await ctx.jobs.list(app);
  return jobs.flatMap((j) => j.state.active).filter((run) => run.instance === instance && run.agentId).map((run) => run.agentId);
}

/**
 * Asks each host to stop (or kill) the instance; returns the hosts that had it. The request id
 * goes along: an agent answers a retry of the same request without a second signal.
 */
async function signalOnHosts(ctx: ApiContext, app: string, instance: string, hosts: string[], kill: boolean, requestId = ''): Promise<string[]> {
  const results = await Promise.all(
    hosts.map(async (id) => {
      const agent = ctx.view.agent(id);
      if (!agent?.address) return undefined;
      const reason = kill ? 'ps:kill' : 'ps:stop';
      try {
        const reply = await callUnary(ctx.dialer.runClient(agent), 'StopRun', { app, instance, reason, kill, request_id: requestId }, AGENT_CALL_TIMEOUT_MS);
        return reply.found ? id : undefined;
      } catch (err) {
        const why = (err as { details?: string }).details || (err as Error).message;
        throw new FailedPreconditionError(`could not reach ${id} to ${kill ? 'kill' : 'stop'} ${instance}: ${why}`);
      }
    }),
  );
  return results.filter((id): id is string => id !== undefined);
}
