/**
 * `apps:destroy` stops every one-off process of the app (`cluster run`, attached or detached,
 * scheduled runs, its release command), as `ps:stop run.N` would: SIGTERM, SIGKILL after the
 * grace period. Best effort: an agent that cannot be reached is named in the log.
 */
import { callUnary } from '../../lib/grpc-call';
import { isOneOffInstance } from '../../lib/one-off';
import type { RunRecord } from '../cron/records';
import type { ApiContext } from '../rpc/context';
import { InstanceStatusReader } from '../state/instance-status';

const AGENT_CALL_TIMEOUT_MS = 5_000;

/** A one-off of the app and the agent that runs it. */
export interface PlacedOneOff {
  agentId: string;
  instance: string;
}

/** The one-offs (run.N, release.N) agents report for `app` (read before it is destroyed). */
export async function reportedOneOffs(ctx: ApiContext, app: string): Promise<PlacedOneOff[]> {
  const reported = await new InstanceStatusReader(ctx.client, ctx.keys).reported(app);
  return reported
    .filter((r) => isOneOffInstance(r.instance))
    .map((r) => ({ agentId: r.agentId, instance: r.instance }));
}

/**
 * Asks every registered agent to stop each one-off of the destroyed app (`app_destroyed`: also
 * one that started too lately to be reported, or still launching), and, for agents of older
 * versions, which know no such request, each one-off by name: those reported, and the runs of
 * its scheduled jobs.
 */
export async function stopOneOffsOfDestroyedApp(ctx: ApiContext, app: string, reported: PlacedOneOff[], jobRuns: RunRecord[]): Promise<void> {
  const reason = `app \`${app}\` was destroyed`;
  const byName = [...reported, ...jobRuns.filter((r) => r.instance && r.agentId).map((r) => ({ agentId: r.agentId, instance: r.instance }))];
  const stop = async (agentId: string, instance: string): Promise<void> => {
    const agent = ctx.view.agent(agentId);
    if (!agent?.address) return;
    try {
      await callUnary(ctx.dialer.runClient(agent), 'StopRun', { app, instance, reason, app_destroyed: instance === '' }, AGENT_CALL_TIMEOUT_MS);
    } catch (err) {
      const why = (err as { details?: string }).details || (err as Error).message;
      ctx.logger.warn({ app, instance: instance || undefined, agent: agentId, why }, 'could not stop a one-off process of a destroyed app');
    }
  };
  await Promise.all([
    ...ctx.view.agentList().map((a) => stop(a.id, '')),
    ...byName.map((r) => stop(r.agentId, r.instance)),
  ]);
}
