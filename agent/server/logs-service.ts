/**
 * The agent's log service: history from the log store, then live lines, filtered here
 * (not on the control plane), batched, and paced by the reader (a slow reader gets a
 * "lines missed" line instead of growing our memory).
 */
import type { AgentLogsHandlers } from '../../proto/gen/cluster/agent/AgentLogs';
import type { LogLine as WireLine } from '../../proto/gen/cluster/logs/LogLine';
import type { Logger } from '../../lib/log';
import type { LogStore } from '../logs/log-store';
import type { LogLine } from '../logs/log-line';

/** Lines per message: many a message is ~10× faster than one a message (docs/stack-notes.md). */
const BATCH = 500;
const MAX_HISTORY = 100_000;

export function logsService(store: LogStore, agentId: string, logger: Logger): AgentLogsHandlers {
  const toWire = (l: LogLine): WireLine => ({
    time_ms: l.timeMs,
    seq: l.seq,
    app: l.app,
    instance: l.instance,
    stream: l.stream,
    text: l.text,
    cut: l.cut,
    host: agentId,
  });

  return {
    Logs: (call) => {
      const req = call.request;
      const limit = Math.max(0, Math.min(MAX_HISTORY, req.lines));
      const { history, live } = store.read(
        { app: req.app, type: req.type || undefined, instance: req.instance || undefined },
        { limit, follow: req.follow },
      );
      let done = false;
      const finish = () => {
        done = true;
        live?.close();
      };
      call.on('cancelled', finish);
      call.on('close', finish);
      call.on('error', finish);

      // Resolves when the reader can take more (gRPC backpressure).
      const send = (lines: WireLine[], historyDone: boolean): Promise<void> | undefined => {
        if (done) return undefined;
        if (call.write({ lines, history_done: historyDone })) return undefined;
        return new Promise((resolve) => call.once('drain', () => resolve()));
      };

      void (async () => {
        const lines = await history;
        for (let i = 0; i < lines.length; i += BATCH) {
          const last = i + BATCH >= lines.length;
          await send(lines.slice(i, i + BATCH).map(toWire), last);
        }
        if (lines.length === 0) await send([], true);
        if (!live) {
          if (!done) call.end();
          return;
        }
        for (;;) {
          const batch = await live.next(BATCH);
          if (batch === null || done) break;
          await send(batch.map(toWire), false);
        }
        if (!done) call.end();
      })().catch((err: unknown) => {
        logger.warn({ err, app: req.app }, 'serving logs failed');
        if (!done) call.destroy(err as Error);
        finish();
      });
    },
  };
}
