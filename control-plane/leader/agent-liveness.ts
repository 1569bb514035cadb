/**
 * Which agents the leader still counts on although their registration (lease) is gone.
 *
 * An agent's registration key lives under its etcd lease, so it vanishes whenever nobody
 * renewed the lease for a TTL: the agent died or is cut off — or the control plane was away
 * (restart, failover) or the agent was too busy to heartbeat. Only the first deserves moving
 * its instances. So an agent that owns assignments but is not registered is `unreachable`:
 * it keeps what it owns (nothing is removed or placed twice) and receives nothing new, until
 * it has been missing for `graceMs` *while this replica led*. Then it is `down` and its
 * instances are placed elsewhere. A replica that becomes leader starts every clock afresh,
 * so after a failover or a control-plane outage of any length agents get the whole grace to
 * reconnect; one that re-registers (new lease or not) simply keeps its assignments.
 */

export interface LivenessVerdict {
  /** Agents that own assignments, are not registered, and are still within their grace. */
  unreachable: string[];
  /** Agents that own assignments and have been missing for the whole grace: re-place their work. */
  down: string[];
  /** When the next unreachable agent's grace ends (epoch ms); undefined when none is waiting. */
  nextDeadlineMs?: number;
}

export class AgentLiveness {
  /** When this replica first saw each missing agent missing (epoch ms). */
  private readonly missingSince = new Map<string, number>();
  private leaderSinceMs = 0;

  constructor(readonly graceMs: number) {}

  /** Call when this replica becomes leader: every missing agent gets the whole grace from now. */
  start(nowMs = Date.now()): void {
    this.leaderSinceMs = nowMs;
    this.missingSince.clear();
  }

  /**
   * Sorts the agents that own assignments (`owners`) but are not in `registered` into the
   * unreachable and the down.
   */
  classify(registered: ReadonlySet<string>, owners: Iterable<string>, nowMs = Date.now()): LivenessVerdict {
    const verdict: LivenessVerdict = { unreachable: [], down: [] };
    const missing = new Set<string>();
    for (const id of owners) {
      if (registered.has(id) || missing.has(id)) continue;
      missing.add(id);
      let since = this.missingSince.get(id);
      if (since === undefined) this.missingSince.set(id, (since = Math.max(nowMs, this.leaderSinceMs)));
      const deadline = since + this.graceMs;
      if (nowMs >= deadline) {
        verdict.down.push(id);
      } else {
        verdict.unreachable.push(id);
        verdict.nextDeadlineMs = Math.min(verdict.nextDeadlineMs ?? Infinity, deadline);
      }
    }
    // Back (registered again) or owning nothing any more: the next absence starts a new grace.
    for (const id of this.missingSince.keys()) if (!missing.has(id)) this.missingSince.delete(id);
    return verdict;
  }
}
