/** Server-sent events on a response: headers, events, keep-alive comments. */
import type { ServerResponse } from 'node:http';

const KEEPALIVE_MS = 15_000;
/** A client that lets this much pile up unread is cut off (EventSource reconnects by itself). */
const MAX_UNREAD_BYTES = 4 * 1024 * 1024;

export class EventStream {
  private readonly keepalive: NodeJS.Timeout | undefined;
  closed = false;

  private readonly closeListeners: Array<() => void> = [];
  /** The newest value for sendLatest() while the client has not read what was written. */
  private latest: { event: string; data: unknown } | undefined;
  private waitingForDrain = false;

  constructor(private readonly res: ServerResponse) {
    if (res.destroyed || res.writableEnded) {
      // The client left while the request was being prepared: its 'close' has fired already.
      this.closed = true;
      return;
    }
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-accel-buffering': 'no',
    });
    res.write('retry: 2000\n\n');
    this.keepalive = setInterval(() => this.closed || res.write(': keep-alive\n\n'), KEEPALIVE_MS);
    // A write racing the client's departure must not become an unhandled 'error' event.
    res.on('error', () => undefined);
    res.on('close', () => {
      this.closed = true;
      clearInterval(this.keepalive);
      for (const listener of this.closeListeners.splice(0)) listener();
    });
  }

  /** Runs `listener` once the client has gone (or the stream was ended). */
  onClose(listener: () => void): void {
    if (this.closed) listener();
    else this.closeListeners.push(listener);
  }

  /** Sends one event; returns false when the client reads slower than we write. */
  send(event: string, data: unknown): boolean {
    if (this.closed) return false;
    const ok = this.res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    if (this.res.writableLength > MAX_UNREAD_BYTES) {
      this.end();
      return false;
    }
    return ok;
  }

  /**
   * Sends a whole state: while the client has not read the last one, only the newest waits and
   * goes out on 'drain' (a view that changes every refresh never piles up).
   */
  sendLatest(event: string, data: unknown): void {
    if (this.closed) return;
    if (this.waitingForDrain) {
      this.latest = { event, data };
      return;
    }
    if (this.send(event, data)) return;
    this.waitingForDrain = true;
    this.res.once('drain', () => {
      this.waitingForDrain = false;
      const latest = this.latest;
      this.latest = undefined;
      if (latest) this.sendLatest(latest.event, latest.data);
    });
  }

  /** Waits until the client has read what was written. */
  drained(): Promise<void> {
    return new Promise((resolve) => this.res.once('drain', resolve));
  }

  end(): void {
    if (this.closed) return;
    this.closed = true; // nothing is written after the end
    clearInterval(this.keepalive);
    this.res.end();
    for (const listener of this.closeListeners.splice(0)) listener();
  }
}
