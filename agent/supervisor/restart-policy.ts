/**
 * Restart policy: a pure decision from "how did the process end" to "when do we start it
 * again". No timers and no processes here, so it is tested as a table.
 */
import { constants } from 'node:os';

/** How a process ended and how long it had been running. */
export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  uptimeMs: number;
}

/** Tunables of the crash loop backoff. */
export interface RestartPolicyOptions {
  /** Delay before the second restart in a row; doubles for each further crash. */
  initialDelayMs: number;
  /** Upper bound of the delay. */
  maxDelayMs: number;
  /** A process that ran at least this long is healthy again: its crash count starts over. */
  resetAfterMs: number;
}

/** Defaults: restart at once, then 1 s, 2 s, 4 s … capped at 5 min; forgive after 10 min up. */
export const DEFAULT_RESTART_POLICY: Readonly<RestartPolicyOptions> = Object.freeze({
  initialDelayMs: 1_000,
  maxDelayMs: 300_000,
  resetAfterMs: 600_000,
});

/** What to do after an exit. */
export interface RestartDecision {
  /** Long-running processes are always restarted (as on Heroku, even after exit 0). */
  action: 'restart';
  delayMs: number;
  /** Human text for logs, e.g. "exited with status 1; restarting in 4 s (crash loop backoff)". */
  reason: string;
  /** Consecutive crashes including this one; feed it back as `previousCrashes` next time. */
  crashes: number;
}

// 2^40 × any sane initial delay is far above any cap; bounding the exponent keeps the
// arithmetic finite (0 × Infinity would be NaN) however long a crash loop lasts.
const MAX_EXPONENT = 40;

/** Describes an exit like a shell would: "exited with status 1", "killed by SIGKILL (status 137)". */
export function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  if (signal) {
    const number = (constants.signals as Record<string, number | undefined>)[signal];
    return number === undefined ? `killed by ${signal}` : `killed by ${signal} (status ${128 + number})`;
  }
  if (code === null) return 'exited with unknown status';
  return `exited with status ${code}`;
}

/** Formats a delay for humans: "500 ms", "4 s", "1.5 s". */
export function formatDelay(ms: number): string {
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  return `${Number((ms / 1_000).toFixed(1))} s`;
}

/** Describes when the restart happens: "restarting now" or "restarting in 4 s (crash loop backoff)". */
export function describeRestartDelay(delayMs: number): string {
  return delayMs <= 0 ? 'restarting now' : `restarting in ${formatDelay(delayMs)} (crash loop backoff)`;
}

/** Decides when to restart a process that exited, given the crashes in a row before it. */
export function decideRestart(
  exit: ExitInfo,
  previousCrashes: number,
  opts: RestartPolicyOptions = DEFAULT_RESTART_POLICY,
): RestartDecision {
  const healthy = exit.uptimeMs >= opts.resetAfterMs;
  const crashes = healthy ? 1 : Math.max(0, Math.floor(previousCrashes)) + 1;
  // The first crash restarts at once (a one-off failure costs nothing); from the second
  // crash in a row on, back off exponentially so a crash loop never spins the CPU.
  const delayMs =
    crashes <= 1
      ? 0
      : Math.min(opts.maxDelayMs, opts.initialDelayMs * 2 ** Math.min(crashes - 2, MAX_EXPONENT));
  return {
    action: 'restart',
    delayMs,
    reason: `${describeExit(exit.code, exit.signal)}; ${describeRestartDelay(delayMs)}`,
    crashes,
  };
}
