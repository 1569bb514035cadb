/**
 * LogStore.followFrom: a follow that goes on from a reader's place (a control-plane failover,
 * docs/logs.md): every line after it that the files hold, however far behind, then live lines;
 * a marker only when rotation removed lines after that place.
 */
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

const logger = createLogger('log-follow-from-test', 'silent');
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cluster-log-follow-from-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const open = (opts: Partial<LogStoreOptions> = {}) => LogStore.open({ dir: path.join(root, `s${++dirs}`), logger, ...opts });

/** Lines from `cursor` until `done` says they are all there. */
async function readUntil(cursor: QueuedCursor, done: (lines: LogLine[]) => boolean): Promise<LogLine[]> {
  const got: LogLine[] = [];
  while (!done(got)) {
    const batch = await cursor.next(1000);
    assert.ok(batch, 'the cursor stays open');
    got.push(...batch);
  }
  return got;
}

/**
 * Appends lines `from` … `to - 1` of web.1, `N padding`, a turn at a time, waiting for the disk
 * writer as an instance's pipe reader does (blocking, the default): appended without its gate,
 * lines the disk cannot take at once are dropped, as a non-blocking type's, and a loaded
 * machine's disk dropped 25k of 150k.
 */
async function print(store: LogStore, from: number, to: number, padding = ''): Promise<void> {
  const gate = store.gate('app', 'web.1', true);
  for (let i = from; i < to; ) {
    await new Promise<void>((resume) => gate.whenOpen(resume));
    for (let k = 0; k < 500 && i < to; k++, i++) store.append('app', 'web.1', 'stdout', `${i}${padding}`);
    await nextTick();
  }
}

const numberOf = (l: LogLine) => Number(l.text.split(' ')[0]);
const lastIs = (n: number) => (lines: LogLine[]) => lines.length > 0 && numberOf(lines[lines.length - 1]!) === n;

describe('LogStore.followFrom', () => {
  it('goes on after the reader\'s place with every line on disk (far more than a history holds), then live ones, no marker', async () => {
    const store = open();
    await print(store, 0, 150_000);
    const place = (await store.read({ app: 'app', instance: 'web.1' }, { limit: 150_000 - 9_999, follow: false }).history)[0]!;
    assert.equal(place.text, '9999');
    const cursor = store.followFrom({ app: 'app' }, place.seq);
    const behind = await readUntil(cursor, lastIs(149_999));
    assert.deepEqual(behind.map(numberOf), Array.from({ length: 140_000 }, (_, k) => 10_000 + k));
    await print(store, 150_000, 150_100);
    const live = await readUntil(cursor, lastIs(150_099));
    assert.deepEqual(live.map(numberOf), Array.from({ length: 100 }, (_, k) => 150_000 + k));
    assert.equal(cursor.rotatedLines, 0);
    cursor.close();
    await store.close();
  });

  it('says how many lines after the place rotation removed, once, at the gap', async () => {
    // 64 KiB per instance: 32 KiB files, about two kept.
    const store = open({ maxBytesPerInstance: 64 * 1024 });
    await print(store, 0, 10);
    const taken = await store.read({ app: 'app' }, { limit: 10, follow: false }).history;
    const total = 20_000;
    await print(store, 10, total, ` ${'r'.repeat(60)}`);
    await waitFor('rotation to delete the files after the place', () => store.stats().filesDeleted > 2);
    const cursor = store.followFrom({ app: 'app' }, taken[9]!.seq);
    const rest = await readUntil(cursor, lastIs(total - 1));
    const markers = rest.filter((l) => l.stream === 'system');
    assert.equal(markers.length, 1, markers.map((m) => m.text).join(' | '));
    assert.equal(rest[0], markers[0], 'the marker stands at the gap');
    const numbers = rest.slice(1).map(numberOf);
    const resumedAt = numbers[0]!;
    assert.deepEqual(numbers, Array.from({ length: total - resumedAt }, (_, k) => resumedAt + k), 'contiguous after the gap');
    // The file that held the place is gone too: the count starts at that file's first line
    // (LogFiles.ordinalThrough), here the first of all, 9 lines before the place.
    const missed = resumedAt - 10;
    assert.equal(markers[0]!.text, `${missed + 9} lines missed (removed by log rotation before the reader got to them)`);
    cursor.close();
    await store.close();
  });

  it('counts nothing rotation removed before the place', async () => {
    const store = open({ maxBytesPerInstance: 64 * 1024 });
    const total = 20_000;
    await print(store, 0, total, ` ${'r'.repeat(60)}`);
    await waitFor('rotation to delete old files', () => store.stats().filesDeleted > 2);
    const kept = await store.read({ app: 'app' }, { limit: 100, follow: false }).history;
    const cursor = store.followFrom({ app: 'app' }, kept[0]!.seq);
    const rest = await readUntil(cursor, lastIs(total - 1));
    assert.deepEqual(rest.map(numberOf), Array.from({ length: 99 }, (_, k) => total - 99 + k));
    assert.equal(cursor.rotatedLines, 0);
    cursor.close();
    await store.close();
  });
});
