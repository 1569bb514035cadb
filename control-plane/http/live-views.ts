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
        stream.send('state', value);
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
        void refresh();
      }
    }
  };

  const unsubscribe = feed.subscribe(() => void refresh());
  const periodic = setInterval(() => void refresh(), REFRESH_MS);
  const sessionCheck = setInterval(() => {
    void opts.sessionAlive().then((alive) => {
      if (alive) return;
      stream.send('expired', { error: 'your dashboard session has ended: run `cluster dashboard` to log in again' });
      stream.end();
    }, () => undefined);
  }, SESSION_CHECK_MS);
  stream.onClose(() => {
    unsubscribe();
    clearInterval(periodic);
    clearInterval(sessionCheck);
  });
  void refresh();
}
