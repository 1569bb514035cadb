/**
 * The log pane's stream: the `cluster logs --tail` fan-out (logs/logs-handler.ts) run
 * in-process, its batches turned into server-sent events. A slow page slows the upstreams
 * down exactly as a slow CLI does (write() returns false until the response drains).
 */
import { EventEmitter } from 'node:events';
import type { ClusterApiHandlers } from '../../proto/gen/cluster/api/ClusterApi';
import type { LogLine } from '../../proto/gen/cluster/logs/LogLine';
import type { LogsRequest__Output } from '../../proto/gen/cluster/logs/LogsRequest';
import type * as grpc from '@grpc/grpc-js';
import type { EventStream } from './sse';

/** History lines the pane starts with. */
export const LOG_HISTORY_LINES = 200;

/** What the page gets for one line. */
interface PaneLine {
  t: number;
  /** With host, instance and t it names the line: the pane skips lines it has after a reconnect. */
  seq: number;
  instance: string;
  stream: string;
  host: string;
  text: string;
}

class LogCall extends EventEmitter {
  constructor(readonly request: LogsRequest__Output, private readonly stream: EventStream) {
    super();
    stream.onClose(() => {
      this.emit('cancelled');
      this.emit('close');
    });
  }

  /** The handler sends headers at once for the CLI's sake (logs-handler.ts); a page needs none. */
  sendMetadata(): void {}

  write(batch: { lines?: LogLine[]; history_done?: boolean; warnings?: string[] }): boolean {
    if (this.stream.closed) return true; // gone: the handler hears 'cancelled'
    let ok = true;
    const lines = batch.lines ?? [];
    if (lines.length > 0) {
      const out: PaneLine[] = lines.map((l) => ({ t: Number(l.time_ms ?? 0), seq: Number(l.seq ?? 0), instance: l.instance ?? '', stream: l.stream ?? '', host: l.host ?? '', text: l.text ?? '' }));
      ok = this.stream.send('lines', out);
    }
    if (batch.warnings?.length) ok = this.stream.send('warnings', batch.warnings) && ok;
    if (batch.history_done) ok = this.stream.send('history-done', {}) && ok;
    if (!ok) this.stream.drained().then(() => this.emit('drain'), () => this.emit('drain'));
    return ok;
  }

  end(): void {
    this.stream.end();
  }
}

/** Streams the app's merged logs (optionally one type or instance) to `stream` until the page goes. */
export function serveLogStream(logs: ClusterApiHandlers['Logs'], stream: EventStream, filter: { app: string; type: string; instance: string }): void {
  const request: LogsRequest__Output = { app: filter.app, type: filter.type, instance: filter.instance, host: '', source: '', lines: LOG_HISTORY_LINES, follow: true, packed: false, all: false, resume_after: [], resume_since_ms: 0, since_ms: 0 };
  const call = new LogCall(request, stream);
  call.on('error', (err: Partial<grpc.StatusObject>) => {
    stream.send('problem', { error: err.details ?? 'the logs cannot be read' });
    stream.end();
  });
  logs(call as unknown as grpc.ServerWritableStream<LogsRequest__Output, never>);
}
