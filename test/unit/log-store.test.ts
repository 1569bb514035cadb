import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { bytesUnder, freshDir, openStore as open, texts } from '../helpers/log-store-fixture';
import { waitFor } from '../helpers/wait-for';
import type { LogLine } from '../../agent/logs/log-line';
import type { LogStore } from '../../agent/logs/log-store';

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

  it('tells its line watcher how many lines each append stored (what releases the agent\'s compilers)', async () => {
    const store = open(freshDir());
    const counts: number[] = [];
    store.watchLines((count) => counts.push(count));
    const chunk = Buffer.from('a\nb\nc\n');
    store.append('app', 'web.1', 'system', 'Starting process');
    store.appendRun('app', 'web.1', 'stdout', { chunk, starts: new Uint32Array([0, 2, 4]), ends: new Uint32Array([1, 3, 5]), count: 3 });
    store.appendRun('app', 'web.1', 'stdout', { chunk, starts: new Uint32Array(0), ends: new Uint32Array(0), count: 0 });
    assert.deepEqual(counts, [1, 3]);
    await store.close();
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
