/**
 * When the scheduler loop's next round may start: a short debounce so a burst of events costs
 * one round, and a settling period after agents join so a starting cluster is spread out.
 */

/** How long to gather changes before a round, so a burst of events costs one round. */
export const DEBOUNCE_MS = 5;
/**
 * After an agent joins (or this replica is elected), wait this long for others to join
 * before placing: when a whole cluster starts, the first agent up would otherwise get
 * every instance, and a host joining later moves nothing.
 */
export const SETTLE_MS = 1_000;
/**
 * Longest a stream of joining agents postpones a round: agents that keep losing their leases
 * (an etcd too slow to renew them) register again and again, and each registration would
 * otherwise push the round back by SETTLE_MS, for ever (seen: nothing placed in 3 minutes).
 */
export const MAX_SETTLE_MS = 3_000;

/** The settling period: no round starts before `until` (epoch ms). */
export class SettleWindow {
  until = 0;
  /** When the current settling period began (an agent joined while none was running). */
  private started = 0;

  /** Forgets the current period's start (on election): the next settle() begins a new one. */
  restart(): void {
    this.started = 0;
  }

  /** Waits SETTLE_MS more for agents to join before the next round, up to MAX_SETTLE_MS in all. */
  settle(now = Date.now()): void {
    if (this.until <= now) this.started = now;
    // Never earlier than already due (a failed round waits 1 s whatever joins meanwhile).
    this.until = Math.max(this.until, Math.min(now + SETTLE_MS, this.started + MAX_SETTLE_MS));
  }
}
