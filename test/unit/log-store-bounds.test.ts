import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { setImmediate as nextTick } from 'node:timers/promises';
import { describe, it } from 'node:test';
import type { LogStore } from '../../agent/logs/log-store';
import { bytesUnder, freshDir, openStore as open, texts } from '../helpers/log-store-fixture';
import { waitFor } from '../helpers/wait-for';

/** Bounds under which an idle app of 500 lines is deleted once another writes ~200 KB. */
const bounds = { maxBytesTotal: 200 * 1024, maxBytesPerInstance: 160 * 1024 };

/** A fresh store directory where an earlier run left app `old` (web.1, 500 lines, ~54 KB). */
async function storeWithOldApp(): Promise<string> {
  const dir = freshDir();
  const first = open(dir, bounds);
  for (let i = 0; i < 500; i++) first.append('old', 'web.1', 'stdout', `old ${i} ${'o'.repeat(100)}`);
  await first.close();
  return dir;
}

/** Round `round` of app `new`'s output: 100 lines, ~11 KB. */
function appendNew(store: LogStore, round: number): void {
  for (let i = 0; i < 100; i++) store.append('new', 'web.1', 'stdout', `new ${round * 100 + i} ${'n'.repeat(100)}`);
}

describe('LogStore: bounds on memory and disk', () => {
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
    // The newest line may be the marker of pieces left out of the files (the read ends the gap).
    assert.equal(lines.filter((l) => l.stream !== 'system').at(-1)!.text, piece);
    await store.close();
    assert.ok(bytesUnder(dir) <= 4 * 1024 * 1024);
  });

  it('drops lines from the disk copy when writes fall behind, and marks the gap (an instance with no log mode: a one-off)', async () => {
    const dir = freshDir();
    const store = open(dir);
    // One synchronous burst: no write can finish meanwhile, so pending bytes hit their bound.
    for (let i = 0; i < 100_000; i++) store.append('app', 'web.1', 'stdout', `${i} ${'z'.repeat(100)}`);
    const dropped = store.stats().diskDroppedLines;
    assert.ok(dropped > 0 && dropped < 100_000, `dropped ${dropped}`);
    assert.ok(store.stats().pendingBytes <= 4 * 1024 * 1024 + 1024, "pending bytes stay within their bound (plus one line)");
    // Memory and live readers still have every line; the read ends the gap, so its marker
    // follows the lines it counts.
    const recent = await store.read({ app: 'app' }, { limit: 2, follow: false }).history;
    assert.deepEqual(texts(recent).map((t) => t.split(' ')[0]), ['99999', String(dropped)]);
    assert.equal(recent[1]!.stream, 'system');
    await store.close();

    const reopened = open(dir);
    const lines = await reopened.read({ app: 'app' }, { limit: 100_000, follow: false }).history;
    const kept = 100_000 - dropped;
    assert.equal(lines.length, kept + 1);
    assert.deepEqual(texts(lines.slice(0, kept)).map((t) => Number(t.split(' ')[0])), Array.from({ length: kept }, (_, k) => k));
    assert.deepEqual([lines[kept]!.stream, lines[kept]!.text], ['system', `${dropped} lines not written to disk (printed faster than they could be written; the output of a one-off process never waits for the disk)`]);
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

  it('deletes the oldest data of idle instances first to stay within the total bound', async () => {
    const dir = await storeWithOldApp();
    assert.ok(bytesUnder(path.join(dir, 'old')) > 50_000);

    const second = open(dir, bounds);
    assert.deepEqual(second.apps(), ['old']);
    for (let round = 0; round < 30; round++) {
      appendNew(second, round);
      await nextTick();
    }
    await waitFor('the old app to be deleted', () => second.apps().length === 1);
    assert.deepEqual(second.apps(), ['new']);
    assert.deepEqual(await second.read({ app: 'old' }, { limit: 10, follow: false }).history, []);
    await second.close();
    assert.ok(bytesUnder(dir) <= bounds.maxBytesTotal);
    await waitFor('the old app directory to go', () => !fs.existsSync(path.join(dir, 'old')));
  });

  it('keeps the first file of an instance that prints again while its old files are still being deleted', async () => {
    const dir = await storeWithOldApp();

    // Unlinks run on libuv's thread pool: hold them, so that the old 1.log is deleted only after
    // the instance has printed again (its new first file is 1.log too).
    const nodeFs = require('node:fs') as typeof fs; // the module object the store calls
    const unlink = nodeFs.unlink;
    const held: Array<() => void> = [];
    nodeFs.unlink = ((p: fs.PathLike, done: fs.NoParamCallback) => void held.push(() => unlink(p, done))) as typeof fs.unlink;
    const second = open(dir, bounds);
    try {
      let round = 0;
      await waitFor('the old instance to be deleted and forgotten', () => {
        appendNew(second, round++);
        return !second.apps().includes('old');
      });
      second.append('old', 'web.1', 'stdout', 'back again');
      // Give a write that does not wait for the deletions every chance to happen first.
      for (let i = 0; i < 20; i++) await new Promise<void>((resolve) => fs.stat(dir, () => resolve()));
    } finally {
      nodeFs.unlink = unlink;
      for (const release of held.splice(0)) release();
    }
    await second.close();
    assert.deepEqual(texts(await second.read({ app: 'old' }, { limit: 10, follow: false }).history), ['back again']);
    assert.ok(fs.existsSync(path.join(dir, 'old', 'web.1', '1.log')), 'the new 1.log is on disk');
    const reopened = open(dir, bounds);
    assert.deepEqual(texts(await reopened.read({ app: 'old' }, { limit: 10, follow: false }).history), ['back again']);
    await reopened.close();
  });
});
