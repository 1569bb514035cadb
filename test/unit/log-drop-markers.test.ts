/**
 * The marker of lines a non-blocking instance dropped from its files ("N lines not written to
 * disk") reaches every reader exactly once, in order, with its count: a follower that stays
 * live, one that falls behind inside the gap and catches up from the files, one that resumes
 * after a line it saw (a reconnect), and history from memory or from the files (docs/logs.md).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LiveCursor, LogStore } from '../../agent/logs/log-store';
import type { QueuedCursor } from '../../agent/logs/live-cursor';
import { unpackLines } from '../../lib/log-packing';
import { freshDir, openStore as open } from '../helpers/log-store-fixture';
import { waitFor } from '../helpers/wait-for';

/** A pending bound of 16 KiB: about 120 of these lines, then the writer drops. */
const SMALL = { maxPendingBytesPerInstance: 16 * 1024 };
const PAD = 'z'.repeat(100);

/** What these tests look at of a line, read as an object or unpacked from a packed batch. */
interface LogLine {
  seq: number;
  stream: string;
  text: string;
}

const dropCount = (l: LogLine): number | undefined => {
  const m = l.stream === 'system' ? /^(\d+) lines? not written to disk \([^)]+\)$/.exec(l.text) : null;
  return m ? Number(m[1]) : undefined;
};
const markers = (lines: LogLine[]): number[] => lines.flatMap((l) => dropCount(l) ?? []);
/** What a reader shows, one string a line: the number of an output line, or `drop:N`. */
const shown = (lines: LogLine[]): string[] => lines.map((l) => (dropCount(l) !== undefined ? `drop:${dropCount(l)}` : l.text.split(' ')[0]!));

/** Appends output lines numbered on from `from` (synchronously: no write ends meanwhile). */
function put(store: LogStore, from: number, count: number): number {
  for (let i = from; i < from + count; i++) store.append('app', 'web.1', 'stdout', `${i} ${PAD}`);
  return from + count;
}

/** How a follower reads: lines as objects, or packed batches (`cluster logs -f`: lines it catches up on come packed from the files' bytes). */
type Mode = 'objects' | 'packed';

async function nextLines(live: LiveCursor, max: number, mode: Mode): Promise<LogLine[]> {
  const batch = mode === 'objects' ? await live.next(max) : await live.nextBatch(max, 0, 64 * 1024);
  if (batch === null) return [];
  return Array.isArray(batch) ? batch : unpackLines(batch.packed, 'app', 'h');
}

/** Reads a follower until it has handed out a line with this text's number. */
async function readUntil(live: LiveCursor, got: LogLine[], last: number, mode: Mode = 'objects'): Promise<void> {
  await waitFor(`the follower to reach line ${last}`, async () => {
    got.push(...(await nextLines(live, 10_000, mode)));
    return got.some((l) => l.stream === 'stdout' && l.text.startsWith(`${last} `));
  });
}

/** Every line of the app in the files, as `cluster logs -n all` streams it. */
async function allFromFiles(store: LogStore): Promise<LogLine[]> {
  const { history } = store.readStream({ app: 'app' }, { limit: Infinity, follow: false });
  const out: LogLine[] = [];
  for (let batch = await history.next(10_000); batch.length > 0; batch = await history.next(10_000)) out.push(...batch);
  await history.close();
  return out;
}

function assertIncreasingSeqs(lines: LogLine[]): void {
  for (let k = 1; k < lines.length; k++) assert.ok(lines[k]!.seq > lines[k - 1]!.seq, `seq ${lines[k]!.seq} after ${lines[k - 1]!.seq}: "${lines[k]!.text}"`);
}

/** A follower shows what the files hold, plus the dropped lines it got live: nothing of the files missing, nothing twice. */
function assertCoversFiles(follower: LogLine[], files: LogLine[]): void {
  assertIncreasingSeqs(follower);
  const onDisk = new Set(files.map((l) => l.seq));
  assert.deepEqual(shown(follower.filter((l) => onDisk.has(l.seq))), shown(files));
}

describe('LogStore: drop markers (non-blocking instances)', () => {
  it('a follower that stays live gets the marker once, right after the lines the files lack', async () => {
    const store = open(freshDir(), SMALL);
    const { live } = store.read({ app: 'app' }, { limit: 0, follow: true });
    let next = put(store, 0, 500);
    const dropped = store.stats().diskDroppedLines;
    assert.ok(dropped > 0 && dropped < 500, `dropped ${dropped}`);
    // The gap ends with the next write; a line after it is written.
    await waitFor('the writer to catch up', () => store.stats().pendingBytes === 0);
    next = put(store, next, 1);
    const got: LogLine[] = [];
    await readUntil(live!, got, next - 1);
    assert.deepEqual(shown(got), [...Array.from({ length: 500 }, (_, k) => String(k)), `drop:${dropped}`, '500']);
    assertIncreasingSeqs(got);
    assertCoversFiles(got, await allFromFiles(store));
    await store.close();
  });

  for (const mode of ['objects', 'packed'] as const) {
    it(`a follower that got lines of the gap live and then fell behind gets the marker from the files, once (${mode})`, async () => {
      const store = open(freshDir(), SMALL);
      const { live } = store.read({ app: 'app' }, { limit: 0, follow: true, maxQueuedLines: 1000 });
      let next = put(store, 0, 500);
      assert.ok(store.stats().diskDroppedLines > 0);
      // It reads lines of the gap while the gap is still open …
      const got: LogLine[] = await nextLines(live!, 1000, mode);
      assert.equal(got.length, 500);
      // … then its queue overflows (the same gap still): it goes on from the files.
      next = put(store, next, 2000);
      await waitFor('the writer to catch up', () => store.stats().pendingBytes === 0);
      next = put(store, next, 1);
      await readUntil(live!, got, next - 1, mode);
      assert.ok((live as QueuedCursor).catchUps > 0, 'it read from the files');
      const dropped = store.stats().diskDroppedLines;
      assert.deepEqual(markers(got), [dropped], `markers at the follower: ${markers(got).join(', ')}`);
      assertCoversFiles(got, await allFromFiles(store));
      await store.close();
    });

    it(`a follower that got the marker live and then fell behind does not get it again from the files (${mode})`, async () => {
      const store = open(freshDir(), SMALL);
      const { live } = store.read({ app: 'app' }, { limit: 0, follow: true, maxQueuedLines: 1000 });
      let next = put(store, 0, 500);
      await waitFor('the writer to catch up', () => store.stats().pendingBytes === 0);
      next = put(store, next, 1);
      const got: LogLine[] = [];
      await readUntil(live!, got, next - 1, mode);
      assert.deepEqual(markers(got), [store.stats().diskDroppedLines], 'the marker, live');
      // Behind now, with the marker in the files before its place.
      for (let round = 0; round < 3; round++) {
        next = put(store, next, 2000);
        await waitFor('the writer to catch up', () => store.stats().pendingBytes === 0);
      }
      next = put(store, next, 1);
      await readUntil(live!, got, next - 1, mode);
      assert.ok((live as QueuedCursor).catchUps > 0, 'it read from the files');
      const all = await allFromFiles(store);
      assert.deepEqual(markers(got), markers(all), 'each marker of the files once, in order');
      assertCoversFiles(got, all);
      await store.close();
    });
  }

  it('a reader that resumes after a line inside the gap (a reconnect) gets the marker once, and not again after it', async () => {
    const store = open(freshDir(), SMALL);
    const first = store.read({ app: 'app' }, { limit: 0, follow: true });
    put(store, 0, 500);
    const got: LogLine[] = [...((await first.live!.next(300)) ?? [])];
    first.live!.close();
    // The control plane asks again for history and live, and forwards what comes after its place.
    const resumeAfter = (after: number): Promise<LogLine[]> =>
      (async () => {
        const again = store.read({ app: 'app' }, { limit: 100_000, follow: true });
        const lines = (await again.history).filter((l) => l.seq > after);
        again.live!.close();
        return lines;
      })();
    const resumed = await resumeAfter(got.at(-1)!.seq);
    got.push(...resumed);
    assert.deepEqual(markers(got), [store.stats().diskDroppedLines]);
    assertIncreasingSeqs(got);
    assert.deepEqual(markers(await resumeAfter(got.at(-1)!.seq)), [], 'a reader past the marker does not get it again');
    await store.close();
  });

  it('history shows the marker once, from memory and from the files, during the gap and after it', async () => {
    const dir = freshDir();
    const store = open(dir, SMALL);
    put(store, 0, 500);
    const dropped = store.stats().diskDroppedLines;
    // During the gap: `-n all` says what the files lack so far …
    assert.deepEqual(markers(await allFromFiles(store)), [dropped]);
    // … and so does history from memory, once, after the lines it counts.
    const fromMemory = await store.read({ app: 'app' }, { limit: 1000, follow: false }).history;
    assert.deepEqual(markers(fromMemory), [dropped]);
    assert.equal(shown(fromMemory).at(-1), `drop:${dropped}`, 'the marker stands after the dropped lines');
    assert.equal(fromMemory.length, 501);
    put(store, 500, 1);
    await store.close();
    // From the files only (another agent run).
    const reopened = open(dir);
    const fromFiles = await reopened.read({ app: 'app' }, { limit: 1000, follow: false }).history;
    assert.deepEqual(markers(fromFiles), [dropped]);
    assert.equal(fromFiles.filter((l) => l.stream === 'stdout').length, 501 - dropped);
    assert.deepEqual(shown(await allFromFiles(reopened)), shown(fromFiles));
    await reopened.close();
  });
});
