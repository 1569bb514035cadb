/**
 * The agent's log service: history from the log store, then live lines, filtered here
 * (not on the control plane), batched, packed when the reader takes packed batches, and paced
 * by the reader (a slow reader goes on from the files; see live-cursor.ts). History larger than
 * one answer (`-n all`, `-n` over 100,000) is streamed from the files in constant memory. A follow
 * resumed from the reader's place (LogsRequest.resume_after, after a control-plane failover) has
 * no history: every line after that place comes from the files, then the live ones.
 */
import type { AgentLogsHandlers } from '../../proto/gen/cluster/agent/AgentLogs';
import type { LogLine as WireLine } from '../../proto/gen/cluster/logs/LogLine';
import type { LogBatch } from '../../proto/gen/cluster/logs/LogBatch';
import type { Logger } from '../../lib/log';
import type { LogStore } from '../logs/log-store';
import type { LogFilter, LogLine } from '../logs/log-line';
import { isLogSource, sourceOf } from '../../lib/log-source';
import { packLines, textSize } from '../../lib/log-packing';
import { MAX_HISTORY_TEXT } from '../logs/store-options';
import * as grpc from '@grpc/grpc-js';
import { appNameProblem } from '../../lib/names';
import { logFilterProblem } from '../../lib/log-filter';
import { INVALID_INPUT, statusWithReason } from '../../lib/status-reason';

/** Lines per message: many a message is ~10× faster than one a message (docs/stack-notes.md). */
const BATCH = 500;
/** Packed, a message carries more lines: the cost per message dominates (docs/logs.md). */
const PACKED_BATCH = 2000;
/** Text per packed message, about. */
const PACKED_BYTES = 64 * 1024;
/**
 * A live packed batch waits this long for more lines after its first (unless PACKED_BATCH are
 * there): at a high rate, fewer and fuller messages cost every process on the way much less
 * (docs/logs.md, "Delivery"); the delay it adds is at most this.
 */
const PACKED_LINGER_MS = 5;
/** History up to this many lines is gathered in memory and merged; more is streamed from the files. */
const MAX_HISTORY = 100_000;
/** The longest text one stored line has (longer output is stored in pieces: line-splitter.ts). */
const MAX_LINE_TEXT = 16_384;
/** What is wrong with a request, or undefined (its filter is checked as the control plane checks it). */
function logsRequestProblem(req: { app: string; type: string; instance: string; source: string; lines: number }): string | undefined {
  const problem = appNameProblem(req.app) ?? logFilterProblem(req);
  if (problem) return problem;
  if (req.lines < 0) return `lines ${req.lines}: give 0 or more`;
  return undefined;
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
      const problem = logsRequestProblem(req);
      if (problem) return void call.emit('error', statusWithReason(grpc.status.INVALID_ARGUMENT, problem, INVALID_INPUT));
      const wanted = req.all ? Infinity : Math.max(0, req.lines);
      const source = isLogSource(req.source) ? req.source : undefined;
      const filter: LogFilter = { app: req.app, type: req.type || undefined, instance: req.instance || undefined };
      const keep = (l: LogLine) => sourceOf(l.stream) === source;
      const ofSource = (lines: LogLine[]) => (source ? lines.filter(keep) : lines);
      // History of this app only: lines read before it was created are a destroyed app's of the
      // same name. Live lines are read from now on, after its creation.
      const since = req.since_ms > 0 ? req.since_ms : 0;
      const ofApp = (l: LogLine) => l.timeMs >= since;
      const keepInHistory = since > 0 ? (l: LogLine) => ofApp(l) && (!source || keep(l)) : source ? keep : undefined;
      // A follow resumed from the reader's place (a control-plane failover): no history, every line after it.
      const place = req.follow ? req.resume_after.find((p) => p.host === agentId) : undefined;
      const fromPlace = place ? store.followFrom(filter, place.seq) : undefined;
      const streamed = !fromPlace && wanted > MAX_HISTORY;
      const read = streamed
        ? store.readStream(filter, { limit: wanted, follow: req.follow, keep: keepInHistory })
        : undefined;
      // With --source, N counts only lines of that source, however far back they are (docs/logs.md).
      const inMemory = read || fromPlace ? undefined : store.read(filter, { limit: wanted, follow: req.follow, keep: source ? keep : undefined });
      const live = fromPlace ?? read?.live ?? inMemory?.live;
      let done = false;
      const finish = () => {
        done = true;
        live?.close();
        read?.history.close().catch((err: unknown) => logger.debug({ err }, 'closing a history reader failed'));
      };
      call.on('cancelled', finish);
      call.on('close', finish);
      call.on('error', finish);

      // Resolves when the reader can take more (gRPC backpressure).
      const write = (batch: LogBatch): Promise<void> | undefined => {
        if (done || call.write(batch)) return undefined;
        return new Promise((resolve) => call.once('drain', () => resolve()));
      };
      /** Said once, with the first lines of a streamed history (LogBatch.history_lines). */
      let historyLines = 0;
      const send = async (lines: LogLine[], historyDone: boolean): Promise<void> => {
        const said = lines.length > 0 ? historyLines : 0;
        if (said > 0) historyLines = 0;
        if (!req.packed) return write({ lines: lines.map(toWire), history_done: historyDone, history_lines: said });
        // Messages of at most about PACKED_BYTES: what sits in buffers between here and the
        // reader stays small, so a reader that stops is noticed soon (live-cursor.ts).
        let start = 0;
        while (start < lines.length) {
          let end = start;
          let chars = 0;
          while (end < lines.length && (end === start || chars < PACKED_BYTES)) chars += textSize(lines[end++]!) + 40;
          await write({ packed: packLines(lines.slice(start, end)), app: req.app, host: agentId, history_done: historyDone && end === lines.length, history_lines: start === 0 ? said : 0 });
          start = end;
        }
        if (lines.length === 0) await write({ app: req.app, host: agentId, history_done: historyDone });
      };

      void (async () => {
        if (fromPlace) await send([], true);
        else if (read) {
          for (let first = true; ; first = false) {
            const lines = await read.history.next(BATCH);
            if (first) historyLines = read.history.lines ?? 0;
            if (lines.length === 0 || done) break;
            await send(lines, false);
          }
          await send([], true);
        } else {
          const limit = wanted;
          const all = await inMemory!.history;
          // The last N, then those of this app: the same lines, as every line before its creation precedes every line after.
          const lines = since > 0 ? all.filter(ofApp) : all;
          // Fewer lines than asked with the text bound (nearly) reached: the bound cut them, say so.
          let chars = 0;
          for (const l of lines) chars += l.text.length;
          if (lines.length < limit && chars > MAX_HISTORY_TEXT - MAX_LINE_TEXT) {
            await write({
              app: req.app,
              host: agentId,
              warnings: [`host ${agentId}: history stops at ${MAX_HISTORY_TEXT / 1024 / 1024} MiB of text, ${lines.length} of the ${limit} lines asked (-n all streams every line)`],
            });
          }
          for (let i = 0; i < lines.length; i += BATCH) {
            const last = i + BATCH >= lines.length;
            await send(lines.slice(i, i + BATCH), last);
          }
          if (lines.length === 0) await send([], true);
        }
        if (!live) {
          if (!done) call.end();
          return;
        }
        for (;;) {
          // Lines read back from the files come packed from their bytes when nothing filters them here.
          const batch = !req.packed ? await live.next(BATCH) : source ? await live.next(PACKED_BATCH, PACKED_LINGER_MS) : await live.nextBatch(PACKED_BATCH, PACKED_LINGER_MS, PACKED_BYTES);
          if (batch === null || done) break;
          if (!Array.isArray(batch)) {
            await write({ packed: batch.packed, app: req.app, host: agentId, history_done: false });
            continue;
          }
          const wantedLines = ofSource(batch);
          if (wantedLines.length > 0) await send(wantedLines, false);
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
