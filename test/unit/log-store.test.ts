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

const logger = createLogger('log-store-test', 'silent');
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cluster-log-store-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));

let dirs = 0;
function freshDir(): string {
  return path.join(root, `store-${++dirs}`);
}

function open(dir: string, opts: Partial<LogStoreOptions> = {}): LogStore {
  return LogStore.open({ dir, logger, ...opts });
}

/** Bytes of all files under `dir`, recursively. */
function bytesUnder(dir: string): number {
  if (!fs.existsSync(dir)) return 0;
  let total = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    total += e.isDirectory() ? bytesUnder(p) : fs.statSync(p).size;
  }
  return total;
}

const texts = (lines: LogLine[]) => lines.map((l) => l.text);

describe('LogStore', () => {
  it('stamps lines with non-decreasing times and increasing seqs', async () => {
    const store = open(freshDir());
    for (let i = 0; i < 1000; i++) store.append('app', 'web.1', 'stdout', `line ${i}`);
    const lines = await store.read({ app: 'app' }, { limit: 1000, follow: false }).history;
    assert.equal(lines.length, 1000);
    for (let i = 1; i < lines.length; i++) {
      assert.ok(lines[i]!.timeMs >= lines[i - 1]!.timeMs);
      assert.ok(lines[i]!.seq > lines[i - 1]!.seq);
    }
    assert.deepEqual(lines[0], { timeMs: lines[0]!.timeMs, seq: lines[0]!.seq, app: 'app', instance: 'web.1', stream: 'stdout', text: 'line 0', cut: false, n: 1 });
    await store.close();
  });

  it('returns the last N lines merged by time across instances', async () => {
    const store = open(freshDir());
    for (let i = 0; i < 30; i++) store.append('app', i % 3 === 0 ? 'web.1' : i % 3 === 1 ? 'worker.1' : 'worker.2', 'stdout', `l${i}`);
    const lines = await store.read({ app: 'app' }, { limit: 10, follow: false }).history;
    assert.deepEqual(texts(lines), Array.from({ length: 10 }, (_, k) => `l${20 + k}`));
    await store.close();
  });

  it('filters by app, process type and instance', async () => {
    const store = open(freshDir());
    store.append('app', 'web.1', 'stdout', 'w1');
    store.append('app', 'worker.1', 'stderr', 'k1');
    store.append('app', 'worker.12', 'stdout', 'k12');
    store.append('app', 'workers.1', 'stdout', 'ks1');
    store.append('other', 'worker.1', 'stdout', 'o1');
    const read = (filter: Parameters<LogStore['read']>[0]) => store.read(filter, { limit: 100, follow: false }).history.then(texts);
    assert.deepEqual(await read({ app: 'app' }), ['w1', 'k1', 'k12', 'ks1']);
    assert.deepEqual(await read({ app: 'app', type: 'worker' }), ['k1', 'k12']);
    assert.deepEqual(await read({ app: 'app', instance: 'worker.1' }), ['k1']);
    assert.deepEqual(await read({ app: 'app', type: '', instance: '' }), ['w1', 'k1', 'k12', 'ks1']);
    assert.deepEqual(await read({ app: 'other' }), ['o1']);
    assert.deepEqual(await read({ app: 'nope' }), []);
    assert.deepEqual(store.apps(), ['app', 'other']);
    await store.close();
  });

  it('keeps stream and cut flag, and tabs in the text, through the disk', async () => {
    const dir = freshDir();
    const store = open(dir);
    store.append('app', 'web.1', 'stdout', 'a\tb\t');
    store.append('app', 'web.1', 'stderr', 'piece', true);
    store.append('app', 'web.1', 'system', 'restarted\nafter crash');
    store.append('app', 'web.1', 'stdout', '');
    store.append('app', 'web.1', 'stdout', 'ünïcødé ✓ \u{1F600}');
    await store.close();
    const reopened = open(dir);
    const lines = await reopened.read({ app: 'app' }, { limit: 10, follow: false }).history;
    assert.deepEqual(
      lines.map((l) => [l.stream, l.cut, l.text]),
      [
        ['stdout', false, 'a\tb\t'],
        ['stderr', true, 'piece'],
        ['system', false, 'restarted after crash'],
        ['stdout', false, ''],
        ['stdout', false, 'ünïcødé ✓ \u{1F600}'],
      ],
    );
    await reopened.close();
  });

  it('serves history from before a restart and orders lines written after it', async () => {
    const dir = freshDir();
    const first = open(dir);
    for (let i = 0; i < 500; i++) first.append('app', i % 2 ? 'web.1' : 'web.2', 'stdout', `before ${i}`);
    await first.close();

    const second = open(dir);
    assert.deepEqual(second.apps(), ['app']);
    const old = await second.read({ app: 'app' }, { limit: 100, follow: false }).history;
    assert.deepEqual(texts(old), Array.from({ length: 100 }, (_, k) => `before ${400 + k}`));
    for (let i = 0; i < 50; i++) second.append('app', i % 2 ? 'web.1' : 'web.2', 'stdout', `after ${i}`);
    const lines = await second.read({ app: 'app' }, { limit: 100, follow: false }).history;
    assert.deepEqual(texts(lines), [...Array.from({ length: 50 }, (_, k) => `before ${450 + k}`), ...Array.from({ length: 50 }, (_, k) => `after ${k}`)]);
    const seqs = lines.map((l) => l.seq);
    assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), 'seqs keep increasing across the restart');
    await second.close();
  });

  it('writes lines appended just before close()', async () => {
    const dir = freshDir();
    const store = open(dir);
    store.append('app', 'web.1', 'stdout', 'first');
    store.append('app', 'web.1', 'stdout', 'last words');
    await store.close();
    await store.close(); // idempotent
    store.append('app', 'web.1', 'stdout', 'after close is ignored');
    const reopened = open(dir);
    assert.deepEqual(texts(await reopened.read({ app: 'app' }, { limit: 10, follow: false }).history), ['first', 'last words']);
    await reopened.close();
  });

  it('reads history from disk when the memory tail is too short', async () => {
    const dir = freshDir();
    const store = open(dir, { memoryLinesPerInstance: 10 });
    for (let i = 0; i < 5000; i++) store.append('app', i === 4990 || i === 4995 ? 'web.2' : 'web.1', 'stdout', `line ${i}`);
    // web.1 answers from disk, web.2 (every line still in memory) from memory.
    const lines = await store.read({ app: 'app' }, { limit: 3000, follow: false }).history;
    assert.deepEqual(texts(lines), Array.from({ length: 3000 }, (_, k) => `line ${2000 + k}`));
    assert.deepEqual(texts(await store.read({ app: 'app', instance: 'web.2' }, { limit: 3000, follow: false }).history), ['line 4990', 'line 4995']);
    await store.close();
  });

  it('keeps each instance and the whole store within its byte bounds while recent lines stay readable', async () => {
    const dir = freshDir();
    const perInstance = 256 * 1024;
    const total = 600 * 1024;
    const store = open(dir, { maxBytesPerInstance: perInstance, maxBytesTotal: total, memoryLinesPerInstance: 10 });
    const text = 'x'.repeat(80);
    // ~3 MB per instance, in event-loop turns as a pipe would deliver it.
    for (let round = 0; round < 40; round++) {
      for (const instance of ['web.1', 'web.2', 'worker.1']) {
        for (let i = 0; i < 1000; i++) store.append('app', instance, 'stdout', `${instance} ${round * 1000 + i} ${text}`);
      }
      await nextTick();
    }
    // A quieter instance of another app, written last.
    for (let i = 0; i < 100; i++) store.append('other', 'web.1', 'stdout', `other ${i}`);
    await store.close();

    for (const instance of ['web.1', 'web.2', 'worker.1']) {
      const bytes = bytesUnder(path.join(dir, 'app', instance));
      assert.ok(bytes <= perInstance, `${instance} holds ${bytes} bytes on disk, bound ${perInstance}`);
    }
    const all = bytesUnder(dir);
    assert.ok(all <= total, `the store holds ${all} bytes on disk, bound ${total}`);

    const reopened = open(dir, { maxBytesPerInstance: perInstance, maxBytesTotal: total });
    const recent = await reopened.read({ app: 'app', instance: 'worker.1' }, { limit: 500, follow: false }).history;
    assert.equal(recent.length, 500);
    assert.equal(recent[499]!.text, `worker.1 39999 ${text}`);
    assert.equal(recent[0]!.text, `worker.1 39500 ${text}`);
    assert.deepEqual(texts(await reopened.read({ app: 'other' }, { limit: 1, follow: false }).history), ['other 99']);
    await reopened.close();
  });

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

  it('stores lines given as bytes (appendRun) in order with string lines, in memory, on disk and live', async () => {
    const dir = freshDir();
    const store = open(dir);
    const { live } = store.read({ app: 'app' }, { limit: 0, follow: true });
    const chunk = Buffer.from('zero\nun\tdeux\ntrois é\n');
    const run = { chunk, starts: new Uint32Array([0, 5]), ends: new Uint32Array([4, 12]), count: 2 };
    store.append('app', 'web.1', 'system', 'before');
    store.appendRun('app', 'web.1', 'stderr', run);
    store.appendRun('app', 'web.1', 'stdout', { chunk, starts: new Uint32Array([13]), ends: new Uint32Array([21]), count: 1 });
    store.append('app', 'web.1', 'stdout', 'after');
    const want = [
      ['system', 'before'],
      ['stderr', 'zero'],
      ['stderr', 'un\tdeux'],
      ['stdout', 'trois é'],
      ['stdout', 'after'],
    ];
    const shape = (lines: LogLine[]) => lines.map((l) => [l.stream, l.text]);
    assert.deepEqual(shape((await live!.next(100)) ?? []), want, 'live');
    assert.deepEqual(shape(await store.read({ app: 'app' }, { limit: 10, follow: false }).history), want, 'memory tail');
    const seqs = (await store.read({ app: 'app' }, { limit: 10, follow: false }).history).map((l) => l.seq);
    assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b));
    assert.equal(new Set(seqs).size, 5);
    await store.close();
    const reopened = open(dir);
    assert.deepEqual(shape(await reopened.read({ app: 'app' }, { limit: 10, follow: false }).history), want, 'disk');
    await reopened.close();
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

  it('keeps memory bounded when an instance floods 16 KiB pieces', async () => {
    const dir = freshDir();
    const store = open(dir, { maxBytesPerInstance: 4 * 1024 * 1024, memoryBytesPerInstance: 1024 * 1024 });
    const piece = Buffer.alloc(16 * 1024, 0xfe).toString('latin1');
    const baseline = process.memoryUsage();
    // 160 MB of output without newlines, as the splitter delivers it.
    for (let round = 0; round < 100; round++) {
      for (let i = 0; i < 100; i++) store.append('app', 'flood.1', 'stdout', piece, true);
      await nextTick();
    }
    const grown = process.memoryUsage();
    const rss = (grown.rss - baseline.rss) / 1024 / 1024;
    assert.ok(rss < 120, `rss grew by ${rss.toFixed(1)} MiB`);
    const lines = await store.read({ app: 'app' }, { limit: 10, follow: false }).history;
    assert.equal(lines.length, 10);
    assert.equal(lines[9]!.text, piece);
    await store.close();
    assert.ok(bytesUnder(dir) <= 4 * 1024 * 1024);
  });

  it('drops lines from the disk copy when writes fall behind, and marks the gap', async () => {
    const dir = freshDir();
    const store = open(dir);
    // One synchronous burst: no write can finish meanwhile, so pending bytes hit their bound.
    for (let i = 0; i < 100_000; i++) store.append('app', 'web.1', 'stdout', `${i} ${'z'.repeat(100)}`);
    const dropped = store.stats().diskDroppedLines;
    assert.ok(dropped > 0 && dropped < 100_000, `dropped ${dropped}`);
    assert.ok(store.stats().pendingBytes <= 4 * 1024 * 1024 + 1024, "pending bytes stay within their bound (plus one line)");
    // Memory and live readers still have every line.
    const recent = await store.read({ app: 'app' }, { limit: 2, follow: false }).history;
    assert.deepEqual(texts(recent).map((t) => t.split(' ')[0]), ['99998', '99999']);
    await store.close();

    const reopened = open(dir);
    const lines = await reopened.read({ app: 'app' }, { limit: 100_000, follow: false }).history;
    const kept = 100_000 - dropped;
    assert.equal(lines.length, kept + 1);
    assert.deepEqual(texts(lines.slice(0, kept)).map((t) => Number(t.split(' ')[0])), Array.from({ length: kept }, (_, k) => k));
    assert.deepEqual([lines[kept]!.stream, lines[kept]!.text], ['system', `${dropped} lines not written to disk (disk too slow)`]);
    await reopened.close();
  });

  it('blocking (the gate of an instance the agent runs): the same burst keeps every line, and the gate tells the reader to wait', async () => {
    const dir = freshDir();
    const store = open(dir);
    // Set before the instance's first line (it is made then, with the mode remembered).
    const gate = store.gate('app', 'web.1', true);
    assert.equal(gate.blocked(), false);
    let sawBlocked = false;
    for (let i = 0; i < 100_000; i++) {
      store.append('app', 'web.1', 'stdout', `${i} ${'z'.repeat(100)}`);
      if (gate.blocked()) sawBlocked = true;
    }
    assert.ok(sawBlocked, 'the reader is told to stop reading');
    assert.equal(store.stats().diskDroppedLines, 0);
    await new Promise<void>((resolve) => gate.whenOpen(resolve));
    assert.equal(gate.blocked(), false, 'open again once the writer caught up');
    await store.close();
    const reopened = open(dir);
    const lines = await reopened.read({ app: 'app' }, { limit: 100_000, follow: false }).history;
    assert.deepEqual(texts(lines).map((t) => Number(t.split(' ')[0])), Array.from({ length: 100_000 }, (_, k) => k));
    await reopened.close();
  });

  it('starts a new file after a restart when the last one ends in a torn line', async () => {
    const dir = freshDir();
    const first = open(dir);
    for (let i = 0; i < 10; i++) first.append('app', 'web.1', 'stdout', `before ${i}`);
    await first.close();
    const instDir = path.join(dir, 'app', 'web.1');
    fs.appendFileSync(path.join(instDir, '1.log'), '1700000000000\t17000000000000');

    const second = open(dir);
    for (let i = 0; i < 5; i++) second.append('app', 'web.1', 'stdout', `after ${i}`);
    await second.close();
    assert.deepEqual(fs.readdirSync(instDir).sort(), ['1.log', '2.log']);

    const third = open(dir);
    const lines = await third.read({ app: 'app' }, { limit: 100, follow: false }).history;
    assert.deepEqual(texts(lines), [...Array.from({ length: 10 }, (_, k) => `before ${k}`), ...Array.from({ length: 5 }, (_, k) => `after ${k}`)]);
    await third.close();
  });

  it('deletes the oldest data of idle instances first to stay within the total bound', async () => {
    const dir = freshDir();
    const bounds = { maxBytesTotal: 200 * 1024, maxBytesPerInstance: 160 * 1024 };
    const first = open(dir, bounds);
    for (let i = 0; i < 500; i++) first.append('old', 'web.1', 'stdout', `old ${i} ${'o'.repeat(100)}`);
    await first.close();
    assert.ok(bytesUnder(path.join(dir, 'old')) > 50_000);

    const second = open(dir, bounds);
    assert.deepEqual(second.apps(), ['old']);
    for (let round = 0; round < 30; round++) {
      for (let i = 0; i < 100; i++) second.append('new', 'web.1', 'stdout', `new ${round * 100 + i} ${'n'.repeat(100)}`);
      await nextTick();
    }
    await waitFor('the old app to be deleted', () => second.apps().length === 1);
    assert.deepEqual(second.apps(), ['new']);
    assert.deepEqual(await second.read({ app: 'old' }, { limit: 10, follow: false }).history, []);
    await second.close();
    assert.ok(bytesUnder(dir) <= bounds.maxBytesTotal);
    await waitFor('the old app directory to go', () => !fs.existsSync(path.join(dir, 'old')));
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

  it('keeps storing when its directory is deleted under it', async () => {
    const dir = freshDir();
    const store = open(dir);
    store.append('app', 'web.1', 'stdout', 'one');
    await waitFor('the first line on disk', () => bytesUnder(dir) > 0);
    fs.rmSync(dir, { recursive: true, force: true });
    store.append('app', 'web.1', 'stdout', 'two');
    store.append('app', 'web.2', 'stdout', 'three');
    await waitFor('the new instance on disk', () => bytesUnder(path.join(dir, 'app', 'web.2')) > 0);
    assert.deepEqual(texts(await store.read({ app: 'app' }, { limit: 10, follow: false }).history), ['one', 'two', 'three']);
    await store.close();
  });
});
