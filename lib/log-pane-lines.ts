/**
 * The dashboard log pane's lines (dashboard/src/components/log-pane.tsx; here, free of the DOM,
 * so that unit tests run it): each batch of the stream appended, at most `max` kept. The stream starts
 * with recent history, and so does every reconnect of the browser's EventSource: lines the pane
 * shows already (same host, instance, time and seq: one line of one agent) are skipped, so a
 * reconnect adds only what is new.
 */

/** What names a line: one line of one instance on one agent. */
export interface PaneLineId {
  t: number;
  seq: number;
  instance: string;
  host: string;
}

function keyOf(line: PaneLineId): string {
  return `${line.host}\n${line.instance}\n${line.t}\n${line.seq}`;
}

/** `shown` with the new lines of `batch` after it (the same array when none is new), and how many were new. */
export function appendLines<L extends PaneLineId>(shown: readonly L[], batch: readonly L[], max: number): { lines: readonly L[]; added: number } {
  if (batch.length === 0) return { lines: shown, added: 0 };
  let oldest = Infinity;
  for (const line of batch) if (line.t < oldest) oldest = line.t;
  // Only lines as new as the batch's oldest can be repeated in it: live batches look at few.
  const seen = new Set<string>();
  for (const line of shown) if (line.t >= oldest) seen.add(keyOf(line));
  const fresh: L[] = [];
  for (const line of batch) {
    const key = keyOf(line);
    if (seen.has(key)) continue;
    seen.add(key);
    fresh.push(line);
  }
  if (fresh.length === 0) return { lines: shown, added: 0 };
  const next = shown.concat(fresh);
  return { lines: next.length > max ? next.slice(next.length - max) : next, added: fresh.length };
}
