/**
 * The one way tests and benchmarks wait: poll a condition until it holds or a deadline
 * passes, never a fixed sleep (docs/testing.md). The timeout error names what was awaited
 * and what the condition last saw (its last value, its last error, or `describe()`).
 */
import { inspect } from 'node:util';

export interface WaitOptions {
  /** How long to keep polling (default 10 s). */
  timeoutMs?: number;
  /** Pause between two polls (default 50 ms). */
  intervalMs?: number;
  /** What the condition last saw, for the timeout error (e.g. a summary of the last `ps`). */
  describe?: () => string;
}

export class WaitTimeoutError extends Error {
  constructor(
    readonly what: string,
    readonly timeoutMs: number,
    readonly lastValue: unknown,
    readonly lastError: unknown,
    detail?: string,
  ) {
    const seen: string[] = [];
    if (lastError instanceof Error) seen.push(`last error: ${lastError.message}`);
    else if (lastError !== undefined) seen.push(`last error: ${inspect(lastError)}`);
    if (detail) seen.push(detail);
    else if (lastError === undefined && lastValue !== undefined) seen.push(`last value: ${inspect(lastValue, { depth: 3, breakLength: Infinity }).slice(0, 500)}`);
    super(`timed out after ${timeoutMs} ms waiting for: ${what}${seen.length ? ` (${seen.join('; ')})` : ''}`);
    this.name = 'WaitTimeoutError';
  }
}

/**
 * Polls `condition` until it returns a truthy value (which it resolves to) or the deadline
 * passes (then it throws a WaitTimeoutError). A throw from `condition` counts as "not yet"
 * and is reported at the timeout. `waitFor(what, condition, timeoutMs, intervalMs)` and
 * `waitFor(what, condition, { timeoutMs, intervalMs, describe })` are the same call.
 */
export async function waitFor<T>(
  what: string,
  condition: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  timeoutOrOptions: number | WaitOptions = {},
  intervalMs?: number,
): Promise<T> {
  const opts: WaitOptions = typeof timeoutOrOptions === 'number' ? { timeoutMs: timeoutOrOptions, intervalMs } : timeoutOrOptions;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const deadline = Date.now() + timeoutMs;
  let lastValue: unknown;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await condition();
      if (value) return value;
      lastValue = value;
      lastError = undefined;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) throw new WaitTimeoutError(what, timeoutMs, lastValue, lastError, opts.describe?.());
    await sleep(opts.intervalMs ?? 50);
  }
}

/**
 * Resolves after `ms`. Only for a wait that is the point of a test ("nothing happens for
 * X s") or a benchmark's pacing: to wait for something, use waitFor.
 */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
