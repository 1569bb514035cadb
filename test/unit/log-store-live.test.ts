import assert from 'node:assert/strict';
import { setImmediate as nextTick } from 'node:timers/promises';
import { describe, it } from 'node:test';
import type { QueuedCursor } from '../../agent/logs/live-cursor';
import { freshDir, openStore as open, texts } from '../helpers/log-store-fixture';
import type { LogLine } from '../../agent/logs/log-line';

describe('LogStore: live readers', () => {
  it('delivers live lines exactly once across the history/live seam', async () => {
    const store = open(freshDir(), { memoryLinesPerInstance: 100 });
    let n = 0;
    const writeSome = (count: number) => {
      for (let i = 0; i < count; i++) store.append('app', `web.${(n % 3) + 1}`, 'stdout', String(n++));
    };
    writeSome(1000);
    // Appends keep coming while history is read from disk and while the reader drains.
    const writer = (async () => {
      for (let round = 0; round < 20; round++) {
        writeSome(100);
        await nextTick();
      }
    })();
    await nextTick();
    const { history, live } = store.read({ app: 'app' }, { limit: 100_000, follow: true });
    assert.ok(live);
    await writer;
    const seen = texts(await history).map(Number);
    const total = n;
    while (seen.length < total) {
      const batch = await live.next(250);
      assert.ok(batch && batch.length > 0 && batch.length <= 250);
      seen.push(...texts(batch).map(Number));
    }
    assert.deepEqual(seen, Array.from({ length: total }, (_, k) => k));
    live.close();
    assert.equal(await live.next(10), null);
    assert.equal(store.stats().liveReaders, 0, 'a closed cursor is forgotten');
    await store.close();
  });

  it('wakes a waiting reader with the lines of one burst in one batch', async () => {
    const store = open(freshDir());
    const { history, live } = store.read({ app: 'app', type: 'worker' }, { limit: 10, follow: true });
    assert.deepEqual(await history, []);
    assert.ok(live);
    const pending = live.next(100);
    store.append('app', 'web.1', 'stdout', 'not for this reader');
    store.append('app', 'worker.7', 'stdout', 'one');
    store.append('app', 'worker.8', 'stderr', 'two');
    assert.deepEqual(texts((await pending) ?? []), ['one', 'two']);
    const waiting = live.next(100);
    await store.close();
    assert.equal(await waiting, null, 'closing the store ends live reads');
  });

  it('a lingering reader gets a burst once max lines are queued, or after the linger with what came meanwhile', async () => {
    const store = open(freshDir());
    const { live } = store.read({ app: 'app' }, { limit: 0, follow: true });
    const full = live!.next(3, 60_000);
    for (let i = 0; i < 5; i++) store.append('app', 'web.1', 'stdout', `l${i}`);
    assert.deepEqual(texts((await full) ?? []), ['l0', 'l1', 'l2'], 'max lines end the wait (not the 60 s linger)');
    const started = Date.now();
    const lingering = live!.next(100, 200);
    setTimeout(() => store.append('app', 'web.1', 'stdout', 'l5'), 20);
    assert.deepEqual(texts((await lingering) ?? []), ['l3', 'l4', 'l5'], 'a line that came during the linger goes with the rest');
    assert.ok(Date.now() - started >= 150, 'it waited for the linger');
    store.append('app', 'web.1', 'stdout', 'l6');
    const closing = live!.next(100, 60_000);
    live!.close();
    assert.equal(await closing, null, 'closing ends a lingering read');
    await store.close();
  });

  it('bounds a slow reader, which then goes on from the files and misses nothing', async () => {
    const store = open(freshDir());
    const { live } = store.read({ app: 'app' }, { limit: 0, follow: true, maxQueuedLines: 1000 });
    const cursor = live as QueuedCursor;
    for (let i = 0; i < 50_000; i++) {
      store.append('app', 'web.1', 'stdout', `line ${i}`);
      assert.ok(cursor.queuedLines <= 1000);
    }
    assert.ok(cursor.catchingUp, 'the reader fell behind');
    assert.equal(cursor.queuedLines, 0, 'its queue was let go: the files have the lines');
    const got: LogLine[] = [];
    while (got.length < 50_000) {
      const batch = (await cursor.next(500)) ?? [];
      assert.ok(batch.length > 0 && batch.length <= 500);
      got.push(...batch);
    }
    assert.deepEqual(got.map((l) => l.text), Array.from({ length: 50_000 }, (_, k) => `line ${k}`));
    assert.equal(cursor.catchUps, 1);
    // Back on the live feed.
    store.append('app', 'web.1', 'stdout', 'live again');
    assert.deepEqual(texts((await cursor.next(10)) ?? []), ['live again']);
    cursor.close();
    await store.close();
  });

  it('bounds the text a slow reader queues', async () => {
    const store = open(freshDir());
    const { live } = store.read({ app: 'app' }, { limit: 0, follow: true, maxQueuedBytes: 64 * 1024 });
    const cursor = live as QueuedCursor;
    const big = 'y'.repeat(16 * 1024);
    for (let i = 0; i < 100; i++) {
      store.append('app', 'web.1', 'stdout', `${i} ${big}`, true);
      assert.ok(cursor.queuedLines <= 4);
    }
    const got: LogLine[] = [];
    while (got.length < 100) got.push(...((await cursor.next(100)) ?? []));
    assert.deepEqual(got.map((l) => Number(l.text.split(' ')[0])), Array.from({ length: 100 }, (_, k) => k));
    assert.ok(got.every((l) => l.cut && l.stream === 'stdout'));
    cursor.close();
    await store.close();
  });

  it('refuses a second concurrent next() on one cursor', async () => {
    const store = open(freshDir());
    const { live } = store.read({ app: 'app' }, { limit: 0, follow: true });
    assert.ok(live);
    const first = live.next(1);
    await assert.rejects(live.next(1), /previous call is still pending/);
    store.append('app', 'web.1', 'stdout', 'x');
    assert.deepEqual(texts((await first) ?? []), ['x']);
    await store.close();
  });
});
