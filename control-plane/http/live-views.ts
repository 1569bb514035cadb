/**
 * A live view over server-sent events: the view's JSON now, then again whenever the change
 * feed ticks (or every REFRESH_MS, for figures that change without an etcd write) and the
 * answer differs from what the page has. One computation at a time per stream; a stream whose
 * session ends is closed.
 */
import { HttpError } from './grpc-bridge';
import type { ChangeFeed } from './change-feed';
import type { EventStream } from './sse';

const REFRESH_MS = 5_000;
const SESSION_CHECK_MS = 30_000;
/** How long one computation of a view serves every stream of that view. */
const SHARE_MS = 150;

/**
 * Shares computations of a view between its streams: many open pages of one app cost one
 * `ps` per change, not one each.
 */
export class SharedViews {
  private readonly recent = new Map<string, { at: number; generation: number; value: Promise<unknown> }>();

  /**
   * The view `key` computed in change generation `generation` (ChangeFeed.generation) less than
   * SHARE_MS ago, or a new computation: one started before a change is never reused after it.
   */
  compute(key: string, generation: number, compute: () => Promise<unknown>): Promise<unknown> {
    const now = Date.now();
    const hit = this.recent.get(key);
    if (hit && hit.generation === generation && now - hit.at < SHARE_MS) return hit.value;
    const value = compute();
    this.recent.set(key, { at: now, generation, value });
    // Bounded: entries go once they are too old to be shared.
    setTimeout(() => {
      if (this.recent.get(key)?.value === value) this.recent.delete(key);
    }, SHARE_MS).unref();
    return value;
  }
}

export function serveLiveView(opts: {
  stream: EventStream;
  feed: ChangeFeed;
  compute: () => Promise<unknown>;
  sessionAlive: () => Promise<boolean>;
}): void {
  const { stream, feed, compute } = opts;
  let last = '';
  let running = false;
  let again = false;

  const refresh = async (): Promise<void> => {
    if (stream.closed) return;
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      const value = await compute();
      const text = JSON.stringify(value);
      if (text !== last) {
        last = text;
        stream.sendLatest('state', value);
      }
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      const status = err instanceof HttpError ? err.status : 500;
      const text = `problem:${status}:${message}`;
      if (text !== last) {
        last = text;
        stream.send('problem', { status, error: message });
      }
    } finally {
      running = false;
      if (again) {
        again = false;
        refreshSoon();
      }
    }
  };
  // refresh() turns every failure into a 'problem' event itself; nothing is left to reject.
  const refreshSoon = () => {
    refresh().catch(() => undefined);
  };

  const unsubscribe = feed.subscribe(refreshSoon);
  const periodic = setInterval(refreshSoon, REFRESH_MS);
  endWithSession(stream, opts.sessionAlive);
  stream.onClose(() => {
    unsubscribe();
    clearInterval(periodic);
  });
  refreshSoon();
}

/** Ends `stream` with an `expired` event once its session has ended (logout, expiry): checked every SESSION_CHECK_MS. */
export function endWithSession(stream: EventStream, sessionAlive: () => Promise<boolean>): void {
  const sessionCheck = setInterval(() => {
    void sessionAlive().then((alive) => {
      if (alive) return;
      stream.send('expired', { error: 'your dashboard session has ended: run `cluster dashboard` to log in again' });
      stream.end();
    }, () => undefined);
  }, SESSION_CHECK_MS);
  stream.onClose(() => clearInterval(sessionCheck));
}
