/**
 * How long a leaving (or dead) agent's processes may run without an agent: the watchdog's
 * hand-over window (docs/agent-handover.md).
 */
import { RESTART_HOLD_MARGIN_MS } from '../../lib/restart-hold';

/**
 * The hand-over window: a replaced agent must be back before the control plane re-places its
 * work, which happens once its lease expires, at the earliest TTL − one heartbeat after its
 * last heartbeat. Half a second of margin on top.
 */
export function handoverWindowMs(ttlSeconds: number, heartbeatMs: number): number {
  return Math.max(500, ttlSeconds * 1000 - heartbeatMs - 500);
}

/**
 * A hand-over on purpose renews the lease as it leaves: the next run then has the whole TTL but a
 * margin, or the restart hold the control plane granted with that heartbeat (`holdMs`) but a
 * margin, whichever is longer: the leader moves the instances only once both have ended. The
 * hold's margin (lib/restart-hold.ts) is the watchdog's SIGTERM → SIGKILL grace and a second
 * more: every process is gone, killed if need be, before the leader may place its copy elsewhere.
 */
export function plannedHandoverWindowMs(ttlSeconds: number, holdMs = 0): number {
  return Math.max(500, ttlSeconds * 1000 - 500, holdMs - RESTART_HOLD_MARGIN_MS);
}

/**
 * The window to give the watchdog as the agent leaves: it counts from then, not from when the
 * window was reckoned (`windowMs`, `elapsedMs` ago), so the time spent closing since is taken off.
 */
export function windowLeftMs(windowMs: number, elapsedMs: number): number {
  return Math.max(100, windowMs - Math.max(0, elapsedMs));
}
