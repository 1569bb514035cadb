/**
 * The data dir keeps etcd between runs of `cluster dev`: the agents of an earlier run with more
 * of them (agent-5 of `--agents 5`, now 3) would stay listed `down`. Each is forgotten once down.
 */
import type { ClusterApiClient } from '../../proto/gen/cluster/api/ClusterApi';
import { callUnary } from '../../lib/grpc-call';

/** Agent `agent-N` of the dev cluster's naming, and its N; undefined for another name. */
export function devAgentNumber(id: string): number | undefined {
  const n = /^agent-(\d+)$/.exec(id)?.[1];
  return n === undefined ? undefined : Number(n);
}

export interface ForgetTiming {
  /** Between looks. */
  pollMs: number;
  /**
   * How long an agent beyond `count` may stay `ready` before it counts as one started by hand
   * against this dev cluster (left alone). The earlier run's registrations are ended before this
   * run starts (earlier-leases.ts), so such an agent is most likely one started by hand; the wait
   * is a margin.
   */
  settleMs: number;
  /** When to stop looking. */
  giveUpMs: number;
}

const TIMING: ForgetTiming = { pollMs: 1_000, settleMs: 30_000, giveUpMs: 120_000 };

/**
 * Forgets the agents beyond `count` once they are down: one that still owns instances is down
 * after the failover grace (longer if etcd did not answer meanwhile), so this looks for two
 * minutes, in the background. A failed call (a busy machine, an etcd hiccup) is tried again at the
 * next look. `say` is told of each agent forgotten.
 */
export async function forgetEarlierAgents(api: ClusterApiClient, count: number, say: (line: string) => void, timing: ForgetTiming = TIMING): Promise<void> {
  const started = Date.now();
  for (;;) {
    const listed = await callUnary(api, 'ListAgents', {}, 5_000).catch(() => undefined);
    const beyond = (listed?.agents ?? []).filter((a) => (devAgentNumber(a.id) ?? 0) > count);
    const running = beyond.filter((a) => a.state === 'ready' || a.state === 'draining');
    const left = beyond.filter((a) => !running.includes(a));
    let forgotten = 0;
    for (const agent of left.filter((a) => a.state === 'down')) {
      const removed = await callUnary(api, 'RemoveAgent', { id: agent.id }, 5_000).then(() => true, () => false);
      if (!removed) continue;
      forgotten += 1;
      say(`Forgot ${agent.id}, an agent of an earlier run of this dev cluster.`);
    }
    const settled = running.length === 0 || Date.now() - started >= timing.settleMs;
    if ((listed && forgotten === left.length && settled) || Date.now() - started >= timing.giveUpMs) return;
    await new Promise((resolve) => setTimeout(resolve, timing.pollMs));
  }
}
