/**
 * Which `logsources/<app>/<agent>` keys this replica has written under an agent's current
 * log-source lease (log-source-records.ts).
 *
 * Every status report names its apps: one put per app per report would be ten extra puts in
 * each ~100-status report while 100k instances come up. Those keys live under the lease and
 * nothing else deletes them (apps:destroy keeps them: the agent keeps the lines), so once
 * written under a lease they exist for as long as the lease does: a report under the same lease
 * need not write them again. A new lease starts over.
 */

/** Agents remembered at most (the map is emptied beyond: it only saves writes). */
const MAX_AGENTS = 20_000;
/** Apps remembered per agent at most. */
const MAX_APPS = 10_000;

export class LogSourceMemo {
  private readonly byAgent = new Map<string, { lease: string; apps: Set<string> }>();

  /** The apps of `apps` whose key is not known to exist under `lease`. */
  missing(agentId: string, lease: string, apps: Iterable<string>): string[] {
    const known = this.byAgent.get(agentId);
    const out: string[] = [];
    for (const app of apps) if (!known || known.lease !== lease || !known.apps.has(app)) out.push(app);
    return out;
  }

  /** `apps`' keys were written (committed) under `lease`. */
  recorded(agentId: string, lease: string, apps: Iterable<string>): void {
    let known = this.byAgent.get(agentId);
    if (!known || known.lease !== lease) {
      if (!known && this.byAgent.size >= MAX_AGENTS) this.byAgent.clear();
      known = { lease, apps: new Set() };
      this.byAgent.set(agentId, known);
    }
    for (const app of apps) {
      if (known.apps.size >= MAX_APPS) known.apps.clear();
      known.apps.add(app);
    }
  }

  /** The agent's lease is gone (or refused): nothing is known under it any more. */
  forget(agentId: string): void {
    this.byAgent.delete(agentId);
  }
}
