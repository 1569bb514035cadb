import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { createLogger } from '../../lib/log';
import { DiskWriter, MIN_WRITE_GAP_MS, type WriterShared } from '../../agent/logs/disk-writer';
import { droppedText } from '../../agent/logs/drop-marker';
import { waitFor } from '../helpers/wait-for';
import type { LogLine } from '../../agent/logs/log-line';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cluster-disk-writer-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));
let dirs = 0;

function writer(opts: Partial<Pick<WriterShared, 'maxBytesPerInstance' | 'maxPendingBytesPerInstance' | 'maxPendingBytesTotal'>> = {}) {
  let wrote = 0;
  let taken = 0;
  const shared: WriterShared = {
    maxBytesPerInstance: opts.maxBytesPerInstance ?? 16 * 1024 * 1024,
    maxPendingBytesPerInstance: opts.maxPendingBytesPerInstance ?? 4 * 1024 * 1024,
    maxPendingBytesTotal: opts.maxPendingBytesTotal ?? 32 * 1024 * 1024,
    logger: createLogger('disk-writer-test', 'silent'),
    stats: { lines: 0, diskDroppedLines: 0, fsErrors: 0, filesDeleted: 0, bytesOnDisk: 0 },
    pendingBytes: 0,
    takeChunk: (min) => {
      taken++;
      return Buffer.allocUnsafe(Math.max(min, 64 * 1024));
    },
    releaseChunk: () => undefined,
    markDirty: (w) => {
      w.dirty = true;
      setImmediate(() => {
        w.dirty = false;
        w.kick();
      });
    },
    enforceTotal: () => undefined,
    wrote: () => void wrote++,
  };
  const dir = path.join(root, `w${++dirs}`);
  // As the store's instance does: a gap's marker with the next seq, queued where the gap ends.
  const w: DiskWriter = new DiskWriter(shared, 'app', 'web.1', dir, [], true, (count, cause) => {
    w.queueMarker({ ...line(droppedText(count, cause)), stream: 'system' });
  });
  return { w, shared, dir, writes: () => wrote, chunksTaken: () => taken };
}

let seq = 1000;
function line(text: string): LogLine {
  return { timeMs: 1_700_000_000_000, seq: ++seq, app: 'app', instance: 'web.1', stream: 'stdout', text, cut: false, n: 0 };
}

const fileLines = (dir: string, gen: number) => fs.readFileSync(path.join(dir, `${gen}.log`), 'utf8').split('\n').filter(Boolean).map((l) => l.split('\t')[3]);

describe('DiskWriter', () => {
  it('a quiet writer takes no pooled 64 KiB chunk for a line now and then; a busy one does', async () => {
    const { w, dir, chunksTaken } = writer();
    w.enqueue(line('Starting process with command `sleep 1`'));
    await w.flush();
    w.enqueue(line('Process exited with status 0'));
    await w.close();
    assert.equal(chunksTaken(), 0, 'a pooled chunk was taken for two short lines');
    assert.deepEqual(fileLines(dir, 1), ['Starting process with command `sleep 1`', 'Process exited with status 0']);

    const busy = writer();
    const texts: string[] = [];
    for (let i = 0; i < 3000; i++) texts.push(`busy ${i} ${'z'.repeat(50)}`);
    for (const t of texts) busy.w.enqueue(line(t));
    await busy.w.flush();
    for (const t of texts) busy.w.enqueue(line(t));
    await busy.w.close();
    assert.ok(busy.chunksTaken() > 0, 'a busy writer must use pooled chunks');
    assert.deepEqual(fileLines(busy.dir, 1), [...texts, ...texts], 'every line reaches the file in order across small and pooled chunks');
  });

  it('a busy writer writes at most every MIN_WRITE_GAP_MS (below WRITE_AT_BYTES pending), and every line arrives', async () => {
    const { w, dir, writes } = writer();
    const texts: string[] = [];
    const started = Date.now();
    // 100 turns of 5 lines (far below 64 KiB): without the gap, a write per turn.
    for (let turn = 0; turn < 100; turn++) {
      for (let i = 0; i < 5; i++) {
        const t = `t${turn} l${i}`;
        texts.push(t);
        w.enqueue(line(t));
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    const elapsed = Date.now() - started;
    await w.close();
    assert.ok(writes() <= elapsed / MIN_WRITE_GAP_MS + 2, `${writes()} writes in ${elapsed} ms`);
    assert.deepEqual(fileLines(dir, 1), texts);
  });

  it('writes each line its own seq in runs of consecutive seqs, across carries and a new digit', async () => {
    const { w, dir } = writer();
    const seqs = [7, 8, 9, 10, 11, 98, 99, 100, 101, 1099, 1100, 5, 6, 9_007_199_254_740_990, 9_007_199_254_740_991, 12];
    for (const [k, seq] of seqs.entries()) w.enqueue({ ...line(`s${k}`), seq });
    await w.close();
    const onDisk = fs.readFileSync(path.join(dir, '1.log'), 'utf8').split('\n').filter(Boolean);
    assert.deepEqual(onDisk.map((l) => l.split('\t')[1]), seqs.map(String));
  });

  it('writes each line its own time when runs of lines share one and when it changes', async () => {
    const { w, dir } = writer();
    const times = [1_764_000_000_000, 1_764_000_000_000, 1_764_000_000_001, 7, 7, 99_999_999_999_999, 1_764_000_000_001];
    for (const [k, timeMs] of times.entries()) w.enqueue({ ...line(`t${k}`), timeMs });
    await w.close();
    const onDisk = fs.readFileSync(path.join(dir, '1.log'), 'utf8').split('\n').filter(Boolean);
    assert.deepEqual(onDisk.map((l) => Number(l.split('\t')[0])), times);
  });

  it('a writer at its pending bound starts a write at once (its blocking reader waits for it), gap or not', async () => {
    const { w, dir } = writer({ maxPendingBytesPerInstance: 4 * 1024 });
    w.blocking = true;
    w.enqueue(line('first'));
    await w.flush();
    let n = 0;
    while (!w.backlogged) w.enqueue(line(`l${n++} ${'z'.repeat(100)}`));
    assert.ok(n < 100);
    assert.ok(w.writing, 'the write started in the same turn');
    await w.close();
    assert.equal(fileLines(dir, 1).length, n + 1);
  });

  it('a quiet writer starts its write at the end of the turn that got its line', async () => {
    const { w, dir } = writer();
    for (const text of ['one', 'two']) {
      // Past the gap since the previous write: the writer is quiet.
      const since = Date.now();
      await waitFor('the write gap to pass', () => Date.now() - since > MIN_WRITE_GAP_MS, 5_000, 1);
      w.enqueue(line(text));
      await new Promise((resolve) => setImmediate(resolve));
      assert.ok(w.writing, `the write of "${text}" started in the turn after it came`);
      await w.flush();
    }
    await w.close();
    assert.deepEqual(fileLines(dir, 1), ['one', 'two']);
  });

  it('gives written lines ordinals 1, 2, … and files know the ordinals they hold across rotation', async () => {
    const { w, dir } = writer({ maxBytesPerInstance: 40 * 1024 });
    const ns: number[] = [];
    for (let i = 0; i < 2000; i++) ns.push(w.enqueue(line(`line ${i} ${'x'.repeat(40)}`)));
    await w.close();
    assert.deepEqual(ns, Array.from({ length: 2000 }, (_, k) => k + 1));
    assert.ok(w.files.length >= 2, 'rotated');
    // Each kept file: its first run line has ordinal firstN, its lines run to lastN without a gap.
    for (const f of w.files) {
      const texts = fileLines(dir, f.gen);
      assert.equal(f.lastN - f.firstN + 1, texts.length);
      assert.equal(texts[0], `line ${f.firstN - 1} ${'x'.repeat(40)}`);
    }
    // Files that rotation deleted hold exactly the ordinals below the oldest kept file.
    assert.equal(w.deletedThroughN, w.files[0]!.firstN - 1);
    assert.ok(w.deletedThroughN > 0);
  });

  it('non-blocking: beyond the pending bound lines are dropped and one marker counts them', async () => {
    const { w, dir, shared } = writer({ maxPendingBytesPerInstance: 64 * 1024 });
    // An instance of a type whose log mode is non-blocking.
    w.oneOff = false;
    let dropped = 0;
    for (let i = 0; i < 5000; i++) if (w.enqueue(line(`l${i} ${'y'.repeat(60)}`)) === 0) dropped++;
    assert.ok(dropped > 0);
    assert.equal(shared.stats.diskDroppedLines, dropped);
    await w.close();
    const texts = fileLines(dir, 1);
    assert.equal(texts.length, 5000 - dropped + 1);
    assert.equal(texts[5000 - dropped], `${dropped} lines not written to disk (printed faster than they could be written; the log mode of this type is non-blocking)`);
  });

  it('blocking: nothing dropped below the hard cap, and `backlogged` tells the reader to wait', async () => {
    const { w, dir, shared, writes } = writer({ maxPendingBytesPerInstance: 64 * 1024 });
    w.blocking = true;
    let sawBacklog = false;
    for (let i = 0; i < 2000; i++) {
      assert.notEqual(w.enqueue(line(`l${i} ${'z'.repeat(60)}`)), 0);
      if (w.backlogged) sawBacklog = true;
    }
    assert.ok(sawBacklog);
    assert.equal(shared.stats.diskDroppedLines, 0);
    await w.flush();
    assert.equal(w.backlogged, false);
    assert.ok(writes() > 0, 'the store hears of every write (to open gates)');
    await w.close();
    assert.equal(fileLines(dir, 1).length, 2000);
  });

  it('blocking: a reader that ignores `backlogged` is cut off at the hard cap (memory stays bounded)', async () => {
    const { w, shared } = writer({ maxPendingBytesPerInstance: 16 * 1024 });
    w.blocking = true;
    for (let i = 0; i < 50_000; i++) w.enqueue(line(`l${i} ${'z'.repeat(60)}`));
    assert.ok(shared.stats.diskDroppedLines > 0);
    assert.ok(shared.pendingBytes <= 4 * 16 * 1024 + 1024 * 1024 + 1024);
    await w.close();
  });
});
