/**
 * Every chaos scenario with its size in the test suite (fast: a few rounds, short
 * outages) and in the benchmark (issue 9's figures: 20 leader kills, 30 s outages).
 */
import { netnsUnavailable } from '../../../helpers/netns';
import type { ChaosOptions } from './common';
import { agentKilledMidSpawn, burstWithoutFault, hugeProcfileLine } from './load';
import { agentsReplicaKilled, leaderKilledMidScale, soleControlPlaneRestarted } from './control-plane';
import { etcdDown, etcdPausedLeaderKilled, oneEtcdMemberDown, quorumLostAndRegained } from './etcd';
import { partitionedHostHealed } from './partition';

export type Size = Pick<ChaosOptions, 'rounds' | 'count' | 'outageMs'>;

export interface Scenario {
  name: string;
  title: string;
  run(options: ChaosOptions): Promise<void>;
  suite: Size;
  bench: Size;
  /** Why it cannot run here, if it cannot. */
  unavailable?(): string | undefined;
}

export const SCENARIOS: Scenario[] = [
  {
    name: 'burst', title: 'a burst of instances with no fault converges once', run: burstWithoutFault,
    suite: { rounds: 1, count: 300, outageMs: 0 }, bench: { rounds: 1, count: 300, outageMs: 0 },
  },
  {
    name: 'leader-kill', title: 'kill -9 the leader mid-scale', run: leaderKilledMidScale,
    suite: { rounds: 3, count: 40, outageMs: 0 }, bench: { rounds: 20, count: 150, outageMs: 0 },
  },
  {
    name: 'agents-replica', title: 'kill the replica the agents use', run: agentsReplicaKilled,
    suite: { rounds: 1, count: 20, outageMs: 0 }, bench: { rounds: 1, count: 150, outageMs: 0 },
  },
  {
    name: 'sole-restart', title: 'restart a sole control plane (mid-scale, then after a long absence)', run: soleControlPlaneRestarted,
    // The outage outlasts two lease TTLs (2 s in tests), as the bench's 31 s does the default 4 s.
    suite: { rounds: 1, count: 20, outageMs: 5_000 }, bench: { rounds: 20, count: 150, outageMs: 31_000 },
  },
  {
    name: 'etcd-down', title: 'etcd down, then back', run: etcdDown,
    suite: { rounds: 1, count: 20, outageMs: 5_000 }, bench: { rounds: 1, count: 150, outageMs: 30_000 },
  },
  {
    name: 'etcd-member', title: 'one of three etcd members down', run: oneEtcdMemberDown,
    suite: { rounds: 1, count: 20, outageMs: 0 }, bench: { rounds: 3, count: 150, outageMs: 0 },
  },
  {
    name: 'quorum', title: 'etcd quorum lost and regained', run: quorumLostAndRegained,
    suite: { rounds: 1, count: 20, outageMs: 5_000 }, bench: { rounds: 1, count: 150, outageMs: 30_000 },
  },
  {
    // Paused longer than the agents' lease TTL (2 s in tests, 4 s by default): they register again.
    name: 'etcd-pause', title: 'etcd paused, the leader replica killed as it resumes', run: etcdPausedLeaderKilled,
    suite: { rounds: 1, count: 20, outageMs: 6_000 }, bench: { rounds: 4, count: 60, outageMs: 6_000 },
  },
  {
    name: 'agent-mid-spawn', title: 'an agent killed mid-spawn', run: agentKilledMidSpawn,
    suite: { rounds: 1, count: 80, outageMs: 0 }, bench: { rounds: 5, count: 80, outageMs: 0 },
  },
  {
    name: 'huge-procfile', title: 'a 1 MB Procfile line', run: hugeProcfileLine,
    suite: { rounds: 1, count: 10, outageMs: 0 }, bench: { rounds: 1, count: 150, outageMs: 0 },
  },
  {
    name: 'partition', title: 'a partitioned host healed', run: partitionedHostHealed, unavailable: netnsUnavailable,
    suite: { rounds: 1, count: 9, outageMs: 0 }, bench: { rounds: 3, count: 30, outageMs: 0 },
  },
];

export function scenario(name: string): Scenario {
  const found = SCENARIOS.find((s) => s.name === name);
  if (!found) throw new Error(`no chaos scenario ${name} (there are: ${SCENARIOS.map((s) => s.name).join(', ')})`);
  return found;
}
