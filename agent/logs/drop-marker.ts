/** The marker that stands where lines were left out of an instance's log files, and why they were (docs/logs.md, Capture). */

/**
 * Why lines were left out of the files: a `blocking` instance's writer stayed behind even with
 * its pipe held (`disk`); a `non-blocking` type's process, or a `one-off`'s, printed faster than
 * the writer wrote, and neither waits for it (docs/logs.md, Capture).
 */
export type GapCause = 'disk' | 'non-blocking' | 'one-off';

const GAP_CAUSES: Record<GapCause, string> = {
  disk: 'disk too slow',
  'non-blocking': 'printed faster than they could be written; the log mode of this type is non-blocking',
  'one-off': 'printed faster than they could be written; the output of a one-off process never waits for the disk',
};

/** The text of the marker that stands after `count` lines left out of the files. */
export function droppedText(count: number, cause: GapCause): string {
  return `${count} line${count === 1 ? '' : 's'} not written to disk (${GAP_CAUSES[cause]})`;
}

/**
 * Called when a gap of dropped lines ends, with how many it holds and why: the owner stamps a
 * marker line (time, the store's next seq), queues it with DiskWriter.queueMarker before it
 * returns, and hands it to memory and live readers.
 */
export type GapEnd = (count: number, cause: GapCause) => void;
