/**
 * The agent's log service: history from the log store, then live lines, filtered here
 * (not on the control plane), batched, and paced by the reader (a slow reader gets a
 * "lines missed" line instead of growing our memory).
 */
import type { AgentLogsHandlers } from '../../proto/gen/cluster/agent/AgentLogs';
import type { LogLine as WireLine } from '../../proto/gen/cluster/logs/LogLine';
import type { Logger } from '../../lib/log';
import type { LogStore } from '../logs/log-store';
import type { LogFilter, LogLine } from '../logs/log-line';
import { isLogSource, sourceOf, type LogSource } from '../../lib/log-source';

/** Lines per message: many a message is ~10× faster than one a message (docs/stack-notes.md). */
const BATCH = 500;
const MAX_HISTORY = 100_000;
/** With a source filter, history is looked for among at most this many of the newest lines. */
const MAX_SOURCE_WINDOW = 1_000_000;

/**
 * The last `limit` lines of one source (`logs --source`). The store keeps lines of all sources
 * together, so when the newest `limit` lines hold fewer of this source, a wider window is read;
 * lines newer than the first read are left out, as they reach the live cursor.
 */
async function historyOfSource(store: LogStore, filter: LogFilter, limit: number, first: LogLine[], source: LogSource): Promise<LogLine[]> {
  const keep = (l: LogLine) => sourceOf(l.stream) === source;
  let lines = first;
  let kept = lines.filter(keep);
  let window = limit;
  let newestSeq = 0;
  for (const l of first) newestSeq = Math.max(newestSeq, l.seq);
  while (kept.length < limit && lines.length >= window && window < MAX_SOURCE_WINDOW) {
    window = Math.min(MAX_SOURCE_WINDOW, window * 8);
    lines = (await store.read(filter, { limit: window, follow: false }).history).filter((l) => l.seq <= newestSeq);
    kept = lines.filter(keep);
  }
  return kept.slice(-limit);
}

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
      const source = isLogSource(req.source) ? req.source : undefined;
      const filter: LogFilter = { app: req.app, type: req.type || undefined, instance: req.instance || undefined };
      const { history, live } = store.read(filter, { limit, follow: req.follow });
      const ofSource = (lines: LogLine[]) => (source ? lines.filter((l) => sourceOf(l.stream) === source) : lines);
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
        const lines = source ? await historyOfSource(store, filter, limit, await history, source) : await history;
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
          const wanted = ofSource(batch);
          if (wanted.length > 0) await send(wanted.map(toWire), false);
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
