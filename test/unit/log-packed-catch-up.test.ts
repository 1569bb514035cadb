import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { setImmediate as nextTick } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import { createLogger } from '../../lib/log';
import { packLines, unpackLines } from '../../lib/log-packing';
import { LogStore, type LogStoreOptions } from '../../agent/logs/log-store';
import type { LogLine, LogStream } from '../../agent/logs/log-line';
import type { QueuedCursor } from '../../agent/logs/live-cursor';
import { waitFor } from '../helpers/wait-for';
import { assertOneRotationGap } from '../helpers/rotation-gap';

const logger = createLogger('packed-catch-up-test', 'silent');
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cluster-packed-catch-up-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const open = (opts: Partial<LogStoreOptions> = {}) => LogStore.open({ dir: path.join(root, `s${++dirs}`), logger, ...opts });
const follow = (store: LogStore, maxQueuedLines: number) => store.read({ app: 'app' }, { limit: 0, follow: true, maxQueuedLines }).live as QueuedCursor;

/** A line as the reader sees it. */
interface Seen {
  instance: string;
  stream: string;
  text: string;
  cut: boolean;
  packed: boolean;
  /** Only when nextSeen is asked for times. */
  timeMs?: number;
}

/** One nextBatch (as the log service asks for a packed reader) unpacked; null once closed. */
async function nextSeen(cursor: QueuedCursor, max = 2000, times = false): Promise<Seen[]> {
  const batch = await cursor.nextBatch(max, 0, 64 * 1024);
  assert.ok(batch, 'the cursor stays open');
  const seen = (l: { instance: string; stream: string; text: string; cut: boolean }, timeMs: number, packed: boolean): Seen => ({
    instance: l.instance,
    stream: l.stream,
    text: l.text,
    cut: l.cut,
    packed,
    ...(times ? { timeMs } : {}),
  });
  if (Array.isArray(batch)) return batch.map((l) => seen(l, l.timeMs, false));
  assert.ok(batch.packed.length <= 64 * 1024 + 20_000, `a packed run of ${batch.packed.length} bytes is about the size asked for`);
  const lines = unpackLines(batch.packed, 'app', 'h');
  assert.equal(lines.length, batch.lines);
  return lines.map((l) => seen(l, l.time_ms, true));
}

describe('packed catch-up (a follower reading the files gets batches packed from their bytes)', () => {
  it('packs byte for byte what packing the lines as objects gives, across chunks, instances, streams, cut and long lines', async () => {
    const store = open({ maxBytesPerInstance: 256 * 1024 * 1024 });
    const objects = follow(store, 10);
    const packed = follow(store, 10);
    const streams: LogStream[] = ['stdout', 'stderr', 'system'];
    const total = 20_000;
    for (let i = 0; i < total; ) {
      // Runs of one instance of varying length, as pipe reads deliver them.
      const instance = `web.${(i % 7) % 4 + 1}`;
      for (let k = 0; k < (i % 5) + 1 && i < total; k++, i++) {
        const text = i % 997 === 0 ? `long ${i} ${'L'.repeat(90_000)}` : i % 13 === 0 ? '' : `line ${i}\twith a tab, é, 😀 ${'t'.repeat(i % 80)}`;
        store.append('app', instance, streams[i % 3]!, text, i % 11 === 0);
      }
      if (i % 500 === 0) await nextTick();
    }
    assert.ok(objects.catchingUp && packed.catchingUp, 'both readers fell behind');
    const fromObjects: Buffer[] = [];
    let objectLines = 0;
    while (objectLines < total) {
      const batch = (await objects.next(700)) ?? [];
      objectLines += batch.length;
      fromObjects.push(packLines(batch));
    }
    const fromFiles: Buffer[] = [];
    let packedLines = 0;
    let runs = 0;
    while (packedLines < total) {
      const batch = await packed.nextBatch(2000, 0, 64 * 1024);
      assert.ok(batch && !Array.isArray(batch), 'lines read back from the files come packed');
      packedLines += batch.lines;
      runs++;
      fromFiles.push(batch.packed);
    }
    assert.equal(packedLines, total);
    assert.ok(runs > 10, 'in many runs');
    assert.ok(Buffer.concat(fromFiles).equals(Buffer.concat(fromObjects)), 'the same bytes');
    const texts = unpackLines(Buffer.concat(fromFiles), 'app', 'h').map((l) => l.text);
    assert.equal(texts[1], 'line 1\twith a tab, é, 😀 t');
    assert.equal(texts[997]!.length, 'long 997 '.length + 90_000);
    objects.close();
    packed.close();
    await store.close();
  });

  it('a follower that falls behind while lines keep coming gets back to live, every line in order', async () => {
    const store = open();
    // Room for 5,000: a round of reading the files starts within half of that (about 8 turns of writing) to hand over to live.
    const cursor = follow(store, 5000);
    // 300 lines a turn for 40 turns, then 100 a turn for 160 (a round of reading the files takes
    // a few turns: at 300 a turn it may not start within half a queue of live on a loaded machine),
    // and on at 100 a turn until the follower is live again, and one turn more: on a loaded machine
    // its catch-up may still be reading the files after the 200th turn.
    let n = 0;
    let writing = true;
    const writer = (async () => {
      let liveTurns = 0;
      for (let round = 0; liveTurns < 2 && round < 20_000; round++) {
        for (let i = 0; i < (round < 40 ? 300 : 100); i++) store.append('app', `web.${(n % 3) + 1}`, 'stdout', String(n++));
        await nextTick();
        if (round >= 199 && (liveTurns > 0 || !cursor.catchingUp)) liveTurns++;
      }
      writing = false;
    })();
    const got: Seen[] = [];
    let packedSeen = 0;
    while (writing || got.length < n) {
      // Read only what was written (a read waits for lines, and the writer may be done).
      if (got.length >= n) {
        await nextTick();
        continue;
      }
      // Slow at first (100 lines a turn while 300 come a turn): it falls behind; then as fast as it can.
      const slow = got.length < 3000;
      const batch = await nextSeen(cursor, slow ? 100 : 2000);
      for (const l of batch) if (l.packed) packedSeen++;
      got.push(...batch);
      if (slow) await nextTick();
    }
    await writer;
    const total = n;
    assert.ok(total >= 40 * 300 + 160 * 100);
    assert.deepEqual(got.map((l) => Number(l.text)), Array.from({ length: total }, (_, k) => k), 'every line once, in order');
    assert.ok(got.every((l) => l.stream === 'stdout' && l.instance === `web.${(Number(l.text) % 3) + 1}`), 'no marker; each line its instance');
    assert.ok(cursor.catchUps >= 1, 'it fell behind');
    assert.ok(packedSeen > 1000, `lines came packed from the files (${packedSeen})`);
    assert.equal(got[got.length - 1]!.packed, false, 'the last lines came live, from the queue');
    assert.equal(cursor.catchingUp, false);
    store.append('app', 'web.1', 'stdout', 'live again');
    assert.equal(cursor.queuedLines, 1, 'new lines queue');
    assert.deepEqual(await nextSeen(cursor), [{ instance: 'web.1', stream: 'stdout', text: 'live again', cut: false, packed: false }]);
    cursor.close();
    await store.close();
  });

  it('rotation during a packed catch-up: exactly one marker, at the gap, with the count of the lines it removed', async () => {
    // 64 KiB per instance: 32 KiB files, about two kept.
    const store = open({ maxBytesPerInstance: 64 * 1024 });
    const cursor = follow(store, 100);
    for (let i = 0; i < 10; i++) store.append('app', 'web.1', 'stdout', `${i}`);
    const first = await nextSeen(cursor, 10, true);
    assert.deepEqual(first.map((l) => l.text), Array.from({ length: 10 }, (_, k) => String(k)));
    const total = 20_000;
    for (let i = 10; i < total; ) {
      for (let k = 0; k < 500 && i < total; k++, i++) store.append('app', 'web.1', 'stdout', `${i} ${'r'.repeat(60)}`);
      await nextTick();
    }
    await waitFor('rotation to delete files the reader has not read', () => store.stats().filesDeleted > 2);
    const rest: Seen[] = [];
    while (rest.length === 0 || Number(rest[rest.length - 1]!.text.split(' ')[0]) !== total - 1) rest.push(...(await nextSeen(cursor, 2000, true)));
    assertOneRotationGap(rest as Required<Seen>[], total, 10, cursor.rotatedLines, first[9]!.timeMs!);
    assert.ok(rest[0]!.packed, 'the marker is packed with the lines read back');
    cursor.close();
    await store.close();
  });

  it('lines taken as objects keep their text while the reader reads on (a chunk they are in is not read into again)', async () => {
    const store = open({ maxBytesPerInstance: 256 * 1024 * 1024 });
    const cursor = follow(store, 10);
    const total = 30_000;
    for (let i = 0; i < total; i++) store.append('app', 'web.1', 'stdout', `${i} ${'o'.repeat(100)}`);
    const got: LogLine[] = [];
    while (got.length < total) got.push(...((await cursor.next(1000)) ?? []));
    // ~3.5 MB: more than a dozen chunks read after the first lines were taken.
    assert.deepEqual(got.map((l) => l.text), Array.from({ length: total }, (_, k) => `${k} ${'o'.repeat(100)}`));
    cursor.close();
    await store.close();
  });
});
