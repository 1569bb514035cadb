/**
 * The agents the scheduler must still count while they are gone: those that own assignments
 * but are not registered and are within their grace (agent-liveness.ts). Logs each agent's
 * change of verdict once, and asks for a round when a grace ends.
 *
 * A drained one is counted as `draining`, not `unreachable`: the grace keeps instances where they
 * are in case their agent comes back, but a drained agent's instances leave it anyway, so they
 * move now, each new copy up before the old assignment goes (moves.ts), instead of when the grace
 * ends (a new leader's: the whole grace after a failover) and then with nothing up meanwhile.
 */
import type { Logger } from '../../lib/log';
import type { AgentView, Assignment } from '../scheduler/types';
import { AgentLiveness } from './agent-liveness';

type Verdict = 'unreachable' | 'held' | 'drained' | 'down';

/** What the scheduler needs to know of an agent besides its registration. */
export interface AgentToggles {
  /** Whether it serves web traffic (docs/process-servers.md). */
  servesWeb(agentId: string): boolean;
  /** Whether it is drained (`agents:drain`). */
  isDrained(agentId: string): boolean;
}

export class UnreachableAgents {
  private readonly liveness: AgentLiveness;
  /** The last registration seen of each agent, for the unreachable ones' datacenter and capacity. */
  private readonly lastSeen = new Map<string, AgentView>();
  /** Agents this replica has declared unreachable, held (a restart hold) or down, to log each change once. */
  private readonly verdicts = new Map<string, Verdict>();
  private graceTimer?: NodeJS.Timeout;

  constructor(
    graceMs: number,
    private readonly logger: Logger,
    /** For the views of unreachable agents. */
    private readonly toggles: AgentToggles,
    /** Asks for a round (when a grace ends). */
    private readonly poke: () => void,
  ) {
    this.liveness = new AgentLiveness(graceMs);
  }

  /** Starts counting graces afresh (on election). */
  start(): void {
    this.liveness.start();
    this.verdicts.clear();
  }

  /** Cancels the look at the next grace's end (on stop). */
  cancel(): void {
    clearTimeout(this.graceTimer);
    this.graceTimer = undefined;
  }

  /**
   * Agents that own assignments but are not registered and are still within their grace
   * (agent-liveness.ts): the scheduler keeps their instances where they are.
   * `lastEtcdOutageMs`: when etcd was last found unreachable (the grace runs again from then);
   * `held`: the agents whose restart hold lives.
   */
  list(registered: AgentView[], assignments: Assignment[], lastEtcdOutageMs: number, held: ReadonlySet<string> = new Set()): AgentView[] {
    for (const a of registered) this.lastSeen.set(a.id, a);
    const ids = new Set(registered.map((a) => a.id));
    this.liveness.heardNothingAt(lastEtcdOutageMs);
    const verdict = this.liveness.classify(ids, assignments.map((a) => a.agentId), Date.now(), held);
    for (const id of verdict.unreachable) this.noteVerdict(id, this.toggles.isDrained(id) ? 'drained' : held.has(id) ? 'held' : 'unreachable');
    for (const id of verdict.down) this.noteVerdict(id, 'down');
    const missing = new Set([...verdict.unreachable, ...verdict.down]);
    for (const id of this.verdicts.keys()) {
      if (ids.has(id)) this.logger.info({ agent: id }, 'agent registered again: it keeps its instances');
      if (!missing.has(id)) this.verdicts.delete(id); // back, or owns nothing any more
    }
    for (const id of this.lastSeen.keys()) if (!ids.has(id) && !this.verdicts.has(id)) this.lastSeen.delete(id);
    this.cancel();
    if (verdict.nextDeadlineMs !== undefined) {
      // Nothing else may happen when the grace ends: look again then.
      this.graceTimer = setTimeout(() => {
        this.graceTimer = undefined;
        this.poke();
      }, Math.max(0, verdict.nextDeadlineMs - Date.now()) + 10);
    }
    return verdict.unreachable.map((id) => ({
      id,
      datacenter: this.lastSeen.get(id)?.datacenter ?? 'unknown',
      labels: this.lastSeen.get(id)?.labels ?? {},
      capacity: this.lastSeen.get(id)?.capacity ?? 0,
      state: this.toggles.isDrained(id) ? ('draining' as const) : ('unreachable' as const),
      web: this.toggles.servesWeb(id),
    }));
  }

  private noteVerdict(id: string, verdict: Verdict): void {
    if (this.verdicts.get(id) === verdict) return;
    this.verdicts.set(id, verdict);
    if (verdict === 'drained') {
      this.logger.info({ agent: id }, 'drained agent not registered: its instances move now, each new copy up before the old one is dropped');
    } else if (verdict === 'held') {
      this.logger.info({ agent: id }, 'agent restarting (its restart hold lives): keeping its instances until it registers again or the hold ends');
    } else if (verdict === 'unreachable') {
      this.logger.warn({ agent: id, graceMs: this.liveness.graceMs }, 'agent not registered: keeping its instances until it reconnects or its grace ends');
    } else {
      this.logger.warn({ agent: id, graceMs: this.liveness.graceMs }, 'agent down (missing for its whole grace): placing its instances elsewhere');
    }
  }
}
