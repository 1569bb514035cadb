/** AgentStats: the CPU and memory of the instances this agent runs, as last sampled (`ps` asks). */
import type { AgentStatsHandlers } from '../../proto/gen/cluster/agent/AgentStats';
import type { InstanceUsage } from '../metrics/usage-sampler';

/** The last samples of one app's instances ("" = every app). */
export type UsageSource = (app: string) => InstanceUsage[];

export function statsService(usage: UsageSource): AgentStatsHandlers {
  return {
    Usage: (call, callback) => {
      const app = typeof call.request.app === 'string' ? call.request.app : '';
      callback(null, {
        instances: usage(app).map((u) => ({
          app: u.app,
          instance: u.instance,
          pid: u.pid,
          cpu_seconds: u.cpuSeconds,
          rss_bytes: u.rssBytes,
          ...(u.cpuPercent !== undefined ? { cpu_percent: u.cpuPercent } : {}),
          sampled_at_ms: u.sampledAtMs,
        })),
      });
    },
  };
}
