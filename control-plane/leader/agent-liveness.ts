/**
 * Which agents the leader still counts on although their registration (lease) is gone.
 *
 * An agent's registration key lives under its etcd lease, so it vanishes whenever nobody
 * renewed the lease for a TTL: the agent died or is cut off — or the control plane was away
 * (restart, failover) and could not hear it. Only the first deserves moving its instances.
 * An agent is therefore declared down only for heartbeats it missed while a leader was there
 * to hear them: during the first `graceMs` of a replica's leadership, an agent that owns
 * assignments but is not registered is `unreachable` — it keeps what it owns (nothing is
 * removed or placed twice) and receives nothing new — and only once this replica has led for
 * the whole grace is it `down` and its instances placed elsewhere. After that, a registration
 * that vanishes means missed heartbeats: down at once, so a dead server's work moves a lease
 * TTL after its last heartbeat. An agent that re-registers (new lease or not) keeps its
 * assignments.
 *
 * An etcd outage deafens the leader the same way (heartbeats reach it but cannot renew a
 * lease): every lease may expire during it although every agent is fine. So the whole grace
 * also runs again from the last moment this replica found etcd unreachable (`heardNothingAt`).
 *
 * An agent that left on purpose for its next run (a restart, an upgrade) may have a restart hold
 * (docs/agent-handover.md): while it lives the agent is `unreachable` whatever the grace, since
 * its watchdog keeps its processes running that long. Once the hold is gone the rules above
 * apply, counted from when the agent went missing: down at once after a steady leadership.
 */

export interface LivenessVerdict {
  /** Agents that own assignments, are not registered, and are still within their grace or hold. */
  unreachable: string[];
  /** Agents that own assignments and have been missing for the whole grace: re-place their work. */
  down: string[];
  /** When the next unreachable agent's grace ends (epoch ms); undefined when none is waiting (a hold ends by a watch event). */
  nextDeadlineMs?: number;
}

export class AgentLiveness {
  /** When this replica first saw each missing agent missing (epoch ms). */
  private readonly missingSince = new Map<string, number>();
  /** Unset until start(): a round before it (a poke while leadership begins) declares nobody down. */
  private leaderSinceMs: number | undefined;
  private deafAtMs = 0;

  constructor(readonly graceMs: number) {}

  /** Call when this replica becomes leader: missing agents get the whole grace from now. */
  start(nowMs = Date.now()): void {
    this.leaderSinceMs = nowMs;
    this.missingSince.clear();
  }

  /** Call when this replica could not reach etcd at `atMs` (so could renew nobody's lease). */
  heardNothingAt(atMs: number): void {
    this.deafAtMs = Math.max(this.deafAtMs, atMs);
  }

  /**
   * Sorts the agents that own assignments (`owners`) but are not in `registered` into the
   * unreachable and the down; those in `held` (a live restart hold) are unreachable.
   */
  classify(registered: ReadonlySet<string>, owners: Iterable<string>, nowMs = Date.now(), held: ReadonlySet<string> = new Set()): LivenessVerdict {
    const verdict: LivenessVerdict = { unreachable: [], down: [] };
    const missing = new Set<string>();
    for (const id of owners) {
      if (registered.has(id) || missing.has(id)) continue;
      missing.add(id);
      let since = this.missingSince.get(id);
      if (since === undefined) this.missingSince.set(id, (since = nowMs));
      if (this.leaderSinceMs === undefined) {
        verdict.unreachable.push(id);
        continue;
      }
      // Missing since before this replica could hear it (elected, or etcd back, since): wait out the grace.
      const deadline = Math.max(since, this.leaderSinceMs + this.graceMs, this.deafAtMs + this.graceMs);
      if (held.has(id)) {
        verdict.unreachable.push(id);
      } else if (nowMs >= deadline) {
        verdict.down.push(id);
      } else {
        verdict.unreachable.push(id);
        verdict.nextDeadlineMs = Math.min(verdict.nextDeadlineMs ?? Infinity, deadline);
      }
    }
    // Back (registered again) or owning nothing any more: forget it.
    for (const id of this.missingSince.keys()) if (!missing.has(id)) this.missingSince.delete(id);
    return verdict;
  }
}
