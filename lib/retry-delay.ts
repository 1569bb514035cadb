/**
 * Delays between retries, always with jitter: when many callers fail at once (every agent when
 * a replica dies, every writer of one app, every CLI during a conflict), delays that are equal
 * make them retry in lockstep and collide again. Exponential backoff with decorrelated jitter
 * (cockatiel's ExponentialBackoff, whose default generator it is): each delay is random, grows
 * about twofold per attempt on average, and is capped.
 */
import type { ExponentialBackoff, IBackoff } from 'cockatiel';

export interface RetryDelayOptions {
  /** The scale of the first delays, in ms (the first is random, up to about 1.4 times this). */
  initialMs: number;
  /** No delay is longer. */
  maxMs: number;
}

/** The delays of one run of retries: next() for each failure, reset() after a success. */
export class RetryDelay {
  private readonly factory: ExponentialBackoff<unknown>;
  private backoff?: IBackoff<unknown>;

  constructor(readonly opts: RetryDelayOptions) {
    // Loaded on first use: the agent uses only jittered() below, and cockatiel is ~30 modules
    // (~0.3 MB of live heap) it would otherwise hold for nothing.
    const cockatiel = require('cockatiel') as typeof import('cockatiel');
    this.factory = new cockatiel.ExponentialBackoff({ initialDelay: opts.initialMs, maxDelay: opts.maxMs });
  }

  /** How long to wait before the next attempt (ms); grows with each call until reset(). */
  next(): number {
    this.backoff = this.backoff ? this.backoff.next(undefined) : this.factory.next();
    return Math.max(0, Math.round(this.backoff.duration));
  }

  /** The next failure starts from the first delay again. */
  reset(): void {
    this.backoff = undefined;
  }
}

/**
 * `ms` spread evenly over ±`spread` (a share): for a retry that waits about a fixed time (a
 * periodic re-registration) but must not line up with every other process doing the same.
 */
export function jittered(ms: number, spread = 0.2): number {
  return Math.max(0, Math.round(ms * (1 - spread + 2 * spread * Math.random())));
}

/** A promise that resolves after `ms`. */
export function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * The pause after attempt `attempt` (0-based) of an optimistic read-modify-write lost a race:
 * full jitter over a window that grows by `stepMs` per attempt, so writers of one key spread
 * out instead of colliding again.
 */
export function conflictPauseMs(attempt: number, stepMs = 5): number {
  return Math.random() * stepMs * (attempt + 1);
}
