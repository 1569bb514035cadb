/** Server-sent events on a response: headers, events, keep-alive comments. */
import type { ServerResponse } from 'node:http';

const KEEPALIVE_MS = 15_000;

export class EventStream {
  private readonly keepalive: NodeJS.Timeout;
  closed = false;

  private readonly closeListeners: Array<() => void> = [];

  constructor(private readonly res: ServerResponse) {
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
      for (const listener of this.closeListeners) listener();
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
    return this.res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
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
  }
}
