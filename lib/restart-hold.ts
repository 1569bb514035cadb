/**
 * The numbers of the restart hold that the agent and the control plane must agree on
 * (docs/agent-handover.md, "The restart hold"): the agent's watchdog keeps the processes for the
 * hold less this margin, and the control plane grants no hold shorter than the lease and it.
 */

/** SIGTERM → SIGKILL of the watchdog's stop once the agent is gone (agent/supervisor/orphan-guard.ts). */
export const WATCHDOG_KILL_GRACE_MS = 5_000;

/** Taken off a hold for the watchdog's window: its kill grace and a second, so every process is gone before the hold ends. */
export const RESTART_HOLD_MARGIN_MS = WATCHDOG_KILL_GRACE_MS + 1_000;
