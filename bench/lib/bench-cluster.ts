/**
 * The benchmarks' cluster: the test harness (test/helpers/test-cluster.ts) with the daemons'
 * own settings — their default log level, so logging does not weigh on the figures, and their
 * default agent TTL — in a directory the benchmark owns, stopped at clean-up (./runs.ts).
 */
import { TestCluster } from '../../test/helpers/test-cluster';
import { onCleanup } from './runs';

export { CLI, Daemon, TestCluster } from '../../test/helpers/test-cluster';
export { waitFor } from '../../test/helpers/wait-for';

/** `control-plane start --agent-ttl`'s default (cli/commands/control-plane.ts). */
const DAEMON_AGENT_TTL = 4;

export interface BenchClusterOptions {
  /** More `control-plane start` flags. */
  controlPlaneArgs?: string[];
  /** Node flags for the control plane's process (e.g. `--cpu-prof`). */
  controlPlaneNodeArgs?: string[];
  /** `--agent-ttl` seconds (default: the daemon's). */
  agentTtl?: number;
}

/** etcd and one control plane under `dir` (which the caller owns); no agents yet. */
export async function startBenchCluster(dir: string, opts: BenchClusterOptions = {}): Promise<TestCluster> {
  const cluster = await TestCluster.start({
    dir,
    logLevel: 'info',
    agentTtl: opts.agentTtl ?? DAEMON_AGENT_TTL,
    controlPlaneArgs: opts.controlPlaneArgs,
    controlPlaneNodeArgs: opts.controlPlaneNodeArgs,
  });
  onCleanup(() => cluster.stop());
  return cluster;
}
