/**
 * The processes of one agent on this machine, found by the markers in their environment: every
 * instance and one-off carries CLUSTER_HOST and CLUSTER_AGENT_DIR (instance-env.ts), its watchdog
 * CLUSTER_GUARD_HOST and CLUSTER_GUARD_DIR (orphan-guard.ts). Both of a pair must match: another
 * agent on this machine may have the same id (another cluster, a test cluster next to a real
 * one), and its processes are none of ours. Used by a starting agent's take-over
 * (handover/take-over.ts) and by the sweep after a process group ends (escapees.ts).
 */
import { allPids, procEnviron, procStat, type ProcStat } from './proc-stat';

export interface MarkedProcess {
  pid: number;
  stat: ProcStat;
  /** The agent's watchdog, not one of its instances' processes. */
  watchdog: boolean;
  /** The instance it says it belongs to (CLUSTER_APP, CLUSTER_INSTANCE); undefined for a watchdog. */
  app?: string;
  instance?: string;
}

/**
 * One pass over /proc, lazily: `skip` is asked about each live process (not a zombie, not in the
 * agent's own group) before its environment is read, the costly part, and may depend on what
 * was yielded so far.
 */
export function* markedProcesses(agentId: string, agentDir: string, skip: (stat: ProcStat) => boolean = () => false): Generator<MarkedProcess> {
  const ownGroup = procStat(process.pid)?.pgid;
  for (const pid of allPids() ?? []) {
    if (pid === process.pid) continue;
    const stat = procStat(pid);
    if (!stat || stat.state === 'Z' || stat.pgid <= 1 || stat.pgid === ownGroup || skip(stat)) continue;
    const env = procEnviron(pid);
    if (env.get('CLUSTER_HOST') === agentId && env.get('CLUSTER_AGENT_DIR') === agentDir) {
      yield { pid, stat, watchdog: false, app: env.get('CLUSTER_APP'), instance: env.get('CLUSTER_INSTANCE') };
    } else if (env.get('CLUSTER_GUARD_HOST') === agentId && env.get('CLUSTER_GUARD_DIR') === agentDir) {
      yield { pid, stat, watchdog: true };
    }
  }
}
