/** The check of a follower that rotation lapped: for the LogStore cursor tests. */
import assert from 'node:assert/strict';

/**
 * What a follower read after rotation deleted lines it had not read yet, of lines numbered
 * `0 …` to `total - 1` of which it had taken the first `taken`: one marker, first, at the gap,
 * with the exact count (also the cursor's `rotatedLines`), then every line after the gap in order.
 * The marker's time lies between the last line taken (`takenTimeMs`) and the first line after the gap.
 */
export function assertOneRotationGap(
  rest: ReadonlyArray<{ stream: string; text: string; timeMs: number }>,
  total: number,
  taken: number,
  rotatedLines: number,
  takenTimeMs: number,
): void {
  const markers = rest.filter((l) => l.stream === 'system');
  assert.equal(markers.length, 1, markers.map((m) => m.text).join(' | '));
  assert.equal(rest[0], markers[0], 'the marker stands at the gap');
  const markerTime = markers[0]!.timeMs;
  assert.ok(markerTime >= takenTimeMs && markerTime <= rest[1]!.timeMs, `the marker's time ${markerTime} is at the gap (${takenTimeMs}…${rest[1]!.timeMs})`);
  const numbers = rest.slice(1).map((l) => Number(l.text.split(' ')[0]));
  const resumedAt = numbers[0]!;
  assert.deepEqual(numbers, Array.from({ length: total - resumedAt }, (_, k) => resumedAt + k), 'contiguous after the gap');
  const missed = resumedAt - taken;
  assert.ok(missed > 0);
  assert.equal(markers[0]!.text, `${missed} lines missed (removed by log rotation before the reader got to them)`);
  assert.equal(rotatedLines, missed);
}
