/**
 * agent/logs/log-files.ts: one instance's files — whole lines appended, rotation at half the
 * instance's bound, the oldest deleted first (never more than the bound on disk), and the
 * ordinals and seqs each file holds, which readers count rotated lines from.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { createLogger } from '../../lib/log';
import { LogFiles, markAtOrBefore, newFile, NO_LINES, type FilesShared } from '../../agent/logs/log-files';
import { encodeLine } from '../../agent/logs/log-format';
import { waitFor } from '../helpers/wait-for';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cluster-log-files-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const logger = createLogger('log-files-test', 'silent');

function files(maxBytesPerInstance: number) {
  let totalChecks = 0;
  const shared: FilesShared = {
    maxBytesPerInstance,
    stats: { filesDeleted: 0, bytesOnDisk: 0, fsErrors: 0 },
    enforceTotal: () => void totalChecks++,
  };
  const dir = path.join(root, `f${++dirs}`);
  return { f: new LogFiles(shared, dir, [], true, logger), shared, dir, totalChecks: () => totalChecks };
}

/** Lines k = from..to (seq 100 + k), 100 bytes each on disk. */
function lines(from: number, to: number): Buffer {
  let s = '';
  for (let k = from; k <= to; k++) s += encodeLine(1_700_000_000_000, 100 + k, 'stdout', false, `line ${k}`.padEnd(79, '.'));
  return Buffer.from(s);
}

const onDisk = (dir: string, gen: number) => fs.readFileSync(path.join(dir, `${gen}.log`), 'utf8');

describe('LogFiles', () => {
  it('marks where writes start, about every 64 KiB, and markAtOrBefore finds the last one at or before a seq', async () => {
    const { f, dir } = files(64 * 1024 * 1024);
    // 1,000 writes of 10 lines (1,000 bytes each): about 1 MB, a mark every 66 writes.
    for (let w = 0; w < 1000; w++) await f.append(lines(w * 10 + 1, w * 10 + 10), 10);
    await f.closeHandle();
    const file = f.files[0]!;
    const marks = file.marks ?? [];
    assert.ok(marks.length >= 14 && marks.length <= 16, `${marks.length} marks`);
    assert.deepEqual(marks[0], { seq: 101, offset: 0, n: 1 });
    const content = fs.readFileSync(path.join(dir, `${file.gen}.log`));
    for (const m of marks) {
      // A mark is where the line with its seq starts, and its ordinal counts the lines before it.
      assert.ok(m.offset === 0 || content[m.offset - 1] === 0x0a);
      assert.equal(content.toString('utf8', m.offset, content.indexOf(0x0a, m.offset)).split('\t')[1], String(m.seq));
      let before = 0;
      for (let i = 0; i < m.offset; i++) if (content[i] === 0x0a) before++;
      assert.equal(m.n, before + 1);
    }
    for (let i = 1; i < marks.length; i++) assert.ok(marks[i]!.offset - marks[i - 1]!.offset >= 64 * 1024);
    assert.equal(markAtOrBefore(file, 100), undefined);
    assert.equal(markAtOrBefore(file, marks[3]!.seq), marks[3]);
    assert.equal(markAtOrBefore(file, marks[3]!.seq + 1), marks[3]);
    assert.equal(markAtOrBefore(file, marks[4]!.seq - 1), marks[3]);
    assert.equal(markAtOrBefore(newFile(9), 1_000_000), undefined, 'a file of an earlier run has no marks');
  });

  it('appends whole lines and rotates at half the bound, each file knowing its ordinals and seqs', async () => {
    const { f, shared, dir } = files(2000); // files of at most 1000 bytes: 10 lines
    assert.equal(lines(1, 1).length, 100);
    await f.append(lines(1, 25));
    await f.append(lines(26, 32));
    await f.closeHandle();
    // 32 lines: 10 + 10 + 10 + 2; the oldest go while the older files hold more than the bound's other half.
    const kept = f.files.map((x) => ({ gen: x.gen, bytes: x.bytes, firstN: x.firstN, lastN: x.lastN, firstSeq: x.firstSeq, lastSeq: x.lastSeq }));
    assert.deepEqual(kept, [
      { gen: 3, bytes: 1000, firstN: 21, lastN: 30, firstSeq: 121, lastSeq: 130 },
      { gen: 4, bytes: 200, firstN: 31, lastN: 32, firstSeq: 131, lastSeq: 132 },
    ]);
    assert.equal(f.deletedThroughN, 20, 'rotation deleted ordinals 1–20');
    assert.equal(shared.stats.filesDeleted, 2);
    assert.equal(shared.stats.bytesOnDisk, 1200);
    assert.equal(onDisk(dir, 3), lines(21, 30).toString());
    // Deleting a file is not awaited (rotation never waits for it): the listing catches up soon.
    await waitFor('the rotated files to leave the directory', () => fs.readdirSync(dir).sort().join(',') === '3.log,4.log');
    assert.deepEqual(f.pathsNewestFirst(), [path.join(dir, '4.log'), path.join(dir, '3.log')]);
  });

  it('never cuts a line: one longer than a file gets a file of its own, and a full file takes the whole lines that fit', async () => {
    const { f, dir } = files(1000); // files of 500 bytes
    const long = Buffer.from(encodeLine(1_700_000_000_000, 100, 'stdout', false, 'y'.repeat(580)));
    await f.append(long);
    await f.closeHandle();
    assert.equal(onDisk(dir, 1), long.toString());
    await f.append(lines(1, 7));
    await f.closeHandle();
    // File 1 (over half the bound) went at the rotation; file 2 took the 5 lines that fit.
    assert.deepEqual(f.files.map((x) => x.gen), [2, 3]);
    assert.equal(f.deletedThroughN, 1);
    assert.equal(onDisk(dir, 2), lines(1, 5).toString());
    assert.equal(onDisk(dir, 3), lines(6, 7).toString());
  });

  it('continues the newest file of an earlier run only when it ends with a whole line', async () => {
    const { shared, dir } = files(1_000_000);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, '7.log'), lines(1, 2));
    const old = { ...newFile(7), bytes: 200, lastSeq: 102 };
    const continued = new LogFiles(shared, dir, [old], true, logger);
    await continued.append(lines(3, 3));
    await continued.closeHandle();
    assert.equal(onDisk(dir, 7), lines(1, 3).toString());
    assert.equal(old.firstN, 1, 'the first line this run wrote is ordinal 1');
    assert.equal(old.firstSeq, 103);

    const fresh = new LogFiles(shared, dir, [{ ...old }], false, logger);
    await fresh.append(lines(4, 4));
    await fresh.closeHandle();
    assert.equal(onDisk(dir, 8), lines(4, 4).toString(), 'a torn newest file is left as it is: a new one starts');
  });

  it('lets the store delete the oldest file, but not the one being written', async () => {
    const { f } = files(2000);
    assert.equal(f.oldestDeletable(false), undefined, 'no files');
    await f.append(lines(1, 5));
    assert.equal(f.isOpen, true);
    assert.equal(f.oldestDeletable(false), undefined, 'its only file is open');
    await f.closeHandle();
    assert.equal(f.oldestDeletable(true), undefined, 'a write is in flight');
    assert.equal(f.oldestDeletable(false)?.gen, 1, 'an idle instance may lose its only file');
    f.deleteOldest();
    assert.equal(f.files.length, 0);
    assert.equal(f.deletedThroughN, 5);
  });

  it('says when the deletions it started have finished (the directory may go then)', async () => {
    const { f, dir } = files(2000);
    await new Promise<void>((resolve) => f.afterDeletions(resolve)); // none in flight: at once
    await f.append(lines(1, 5));
    await f.closeHandle();
    f.deleteOldest();
    await new Promise<void>((resolve) => f.afterDeletions(resolve));
    assert.deepEqual(fs.readdirSync(dir), [], 'the file is gone by then');
  });

  it('a file not yet written looks newest (it is deleted last)', () => {
    assert.equal(newFile(3).lastSeq, NO_LINES);
  });

  it('makes its directory again when someone removed it', async () => {
    const { f, dir } = files(1_000_000);
    await f.append(lines(1, 1));
    await f.closeHandle();
    fs.rmSync(dir, { recursive: true });
    await f.append(lines(2, 2));
    await f.closeHandle();
    assert.equal(onDisk(dir, 1), lines(2, 2).toString());
  });
});
