/**
 * Log batches between agents and the reader: packed batches (lib/log-packing.ts) pass through
 * untouched when the reader takes them; lines are decoded only for an old reader (one that did
 * not ask for packed batches), packed only for an old agent, and decoded for merging history
 * of several hosts by time.
 */
import type { LogBatch } from '../../proto/gen/cluster/logs/LogBatch';
import type { LogBatch__Output } from '../../proto/gen/cluster/logs/LogBatch';
import type { LogLine__Output } from '../../proto/gen/cluster/logs/LogLine';
import { packLines, unpackLines, type UnpackedLine } from '../../lib/log-packing';

/** Lines per message sent to the reader when the control plane makes the batches itself. */
export const BATCH = 500;

/** The lines of an agent's batch, whichever way it came, with the host set. */
export function linesOf(batch: LogBatch__Output, app: string, host: string): UnpackedLine[] {
  if (batch.packed.length > 0) return unpackLines(batch.packed, batch.app || app, host);
  for (const line of batch.lines) line.host = host;
  return batch.lines;
}

/** An agent's batch as the reader takes it (without history_done and warnings: the control plane says those). */
export function forReader(batch: LogBatch__Output, app: string, host: string, packed: boolean): LogBatch | undefined {
  if (packed && batch.packed.length > 0) return { packed: batch.packed, app: batch.app || app, host };
  const lines = linesOf(batch, app, host);
  if (lines.length === 0) return undefined;
  return packed ? { packed: packLines(lines.map(packable)), app, host } : { lines };
}

/** Lines (possibly of several hosts) as batches for the reader: packed batches are one host each. */
export function batchesOf(lines: UnpackedLine[] | LogLine__Output[], app: string, packed: boolean): LogBatch[] {
  const out: LogBatch[] = [];
  if (!packed) {
    for (let i = 0; i < lines.length; i += BATCH) out.push({ lines: lines.slice(i, i + BATCH) });
    return out;
  }
  let start = 0;
  while (start < lines.length) {
    const host = lines[start]!.host;
    let end = start + 1;
    while (end < lines.length && end - start < BATCH && lines[end]!.host === host) end++;
    out.push({ packed: packLines(lines.slice(start, end).map(packable)), app, host });
    start = end;
  }
  return out;
}

function packable(l: UnpackedLine | LogLine__Output) {
  return { timeMs: l.time_ms, seq: l.seq, instance: l.instance, stream: l.stream, text: l.text, cut: l.cut };
}
