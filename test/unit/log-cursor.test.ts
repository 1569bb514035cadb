import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { setImmediate as nextTick } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import { createLogger } from '../../lib/log';
import { LogStore, type LogStoreOptions } from '../../agent/logs/log-store';
import type { LogLine } from '../../agent/logs/log-line';
import type { QueuedCursor } from '../../agent/logs/live-cursor';
import { waitFor } from '../helpers/wait-for';
import { assertOneRotationGap } from '../helpers/rotation-gap';

const logger = createLogger('log-cursor-test', 'silent');
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cluster-log-cursor-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const open = (opts: Partial<LogStoreOptions> = {}) => LogStore.open({ dir: path.join(root, `s${++dirs}`), logger, ...opts });

async function readAll(cursor: QueuedCursor, count: (lines: LogLine[]) => boolean): Promise<LogLine[]> {
  const got: LogLine[] = [];
  while (!count(got)) {
    const batch = await cursor.next(1000);
    assert.ok(batch, 'the cursor stays open');
    got.push(...batch);
  }
  return got;
}

describe('live cursor', () => {
  it('a reader that falls behind deep into a file catches up from a mark: every line, in order, with its ordinal', async () => {
    const store = open();
    const { live } = store.read({ app: 'app' }, { limit: 0, follow: true, maxQueuedLines: 1000 });
    const cursor = live as QueuedCursor;
    const got: LogLine[] = [];
    let n = 0;
    // Read along live for 20,000 lines (2 MB): the file grows past many marks.
    for (let round = 0; round < 40; round++) {
      for (let i = 0; i < 500; i++) store.append('app', 'web.1', 'stdout', `line ${n++} ${'x'.repeat(90)}`);
      while (got.length < n) got.push(...((await cursor.next(1000)) ?? []));
      await nextTick();
    }
    assert.equal(cursor.catchUps, 0);
    for (let i = 0; i < 5000; i++) store.append('app', 'web.1', 'stdout', `line ${n++} ${'x'.repeat(90)}`);
    assert.ok(cursor.catchingUp, 'the reader fell behind');
    while (got.length < n) got.push(...((await cursor.next(1000)) ?? []));
    assert.equal(cursor.catchUps, 1);
    assert.deepEqual(got.map((l) => l.text), Array.from({ length: n }, (_, k) => `line ${k} ${'x'.repeat(90)}`));
    // Lines from the files carry their ordinals: 1, 2, … for the only instance.
    const fromDisk = got.slice(20_000);
    assert.deepEqual(fromDisk.map((l) => l.n), Array.from({ length: 5000 }, (_, k) => 20_001 + k));
    cursor.close();
    await store.close();
  });

  it('a reader far behind does not queue live lines until its backlog is small, and loses none', async () => {
    const store = open();
    const { live } = store.read({ app: 'app' }, { limit: 0, follow: true, maxQueuedLines: 1000 });
    const cursor = live as QueuedCursor;
    let n = 0;
    const append = (count: number) => {
      for (let i = 0; i < count; i++) store.append('app', `web.${(n % 2) + 1}`, 'stdout', `line ${n++}`);
    };
    append(5000);
    assert.ok(cursor.catchingUp, 'the reader fell behind');
    const got: LogLine[] = [...((await cursor.next(100)) ?? [])];
    // 5,000 lines behind with room for 1,000: new lines go to the files only.
    append(300);
    assert.equal(cursor.queuedLines, 0, 'nothing queued while far behind');
    assert.ok(cursor.catchingUp);
    got.push(...(await readAll(cursor, (lines) => got.length + lines.length >= n)));
    assert.deepEqual(got.map((l) => l.text), Array.from({ length: n }, (_, k) => `line ${k}`));
    assert.equal(cursor.catchUps, 1, 'one fall behind, however many rounds it read');
    // The last round was short: new lines queue again, and the reader is live once they are read.
    append(10);
    assert.equal(cursor.queuedLines, 10, 'new lines queue again');
    assert.deepEqual(((await cursor.next(100)) ?? []).map((l) => l.text), Array.from({ length: 10 }, (_, k) => `line ${5300 + k}`));
    assert.equal(cursor.catchingUp, false);
    cursor.close();
    await store.close();
  });

  it('a slow reader of several instances gets every line, in store order, while lines keep coming', async () => {
    const store = open();
    const { live } = store.read({ app: 'app' }, { limit: 0, follow: true, maxQueuedLines: 200 });
    const cursor = live as QueuedCursor;
    let n = 0;
    const writing = (async () => {
      for (let round = 0; round < 60; round++) {
        for (let i = 0; i < 500; i++) store.append('app', `web.${(n % 3) + 1}`, 'stdout', String(n++));
        await nextTick();
      }
    })();
    const got: number[] = [];
    while (got.length < 30_000) {
      const batch = (await cursor.next(300)) ?? [];
      for (const l of batch) {
        assert.equal(l.stream, 'stdout', `no marker: ${l.text}`);
        got.push(Number(l.text));
      }
      // A slow reader: a turn per batch.
      await nextTick();
    }
    await writing;
    assert.deepEqual(got, Array.from({ length: 30_000 }, (_, k) => k));
    assert.ok(cursor.catchUps >= 1, 'it fell behind and read from the files');
    cursor.close();
    await store.close();
  });

  it('rotation during a slow reader: exactly one marker, with the count of the lines it removed', async () => {
    // 64 KiB per instance: 32 KiB files, about two kept.
    const store = open({ maxBytesPerInstance: 64 * 1024 });
    const { live } = store.read({ app: 'app' }, { limit: 0, follow: true, maxQueuedLines: 100 });
    const cursor = live as QueuedCursor;
    for (let i = 0; i < 10; i++) store.append('app', 'web.1', 'stdout', `${i}`);
    const first = (await cursor.next(10)) ?? [];
    assert.deepEqual(first.map((l) => l.text), Array.from({ length: 10 }, (_, k) => String(k)));
    const total = 20_000;
    for (let i = 10; i < total; ) {
      for (let k = 0; k < 500 && i < total; k++, i++) store.append('app', 'web.1', 'stdout', `${i} ${'r'.repeat(60)}`);
      await nextTick();
    }
    await waitFor('rotation to delete files the reader has not read', () => store.stats().filesDeleted > 2);
    const rest = await readAll(cursor, (lines) => lines.length > 0 && Number(lines[lines.length - 1]!.text.split(' ')[0]) === total - 1);
    assertOneRotationGap(rest, total, 10, cursor.rotatedLines, first[9]!.timeMs);
    cursor.close();
    await store.close();
  });

  it('history then live stay seamless when the reader falls behind right at the seam', async () => {
    const store = open({ memoryLinesPerInstance: 50 });
    for (let i = 0; i < 1000; i++) store.append('app', 'web.1', 'stdout', String(i));
    const { history, live } = store.read({ app: 'app' }, { limit: 500, follow: true, maxQueuedLines: 10 });
    for (let i = 1000; i < 3000; i++) store.append('app', 'web.1', 'stdout', String(i));
    const got = (await history).map((l) => Number(l.text));
    const cursor = live as QueuedCursor;
    got.push(...(await readAll(cursor, (lines) => lines.length >= 2000)).map((l) => Number(l.text)));
    assert.deepEqual(got, Array.from({ length: 2500 }, (_, k) => 500 + k));
    cursor.close();
    await store.close();
  });
});
