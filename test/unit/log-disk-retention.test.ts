import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CLOSE_FILE_AFTER_MS, DiskRetention, DROP_TAIL_AFTER_MS } from '../../agent/logs/disk-retention';
import type { LogStoreStats } from '../../agent/logs/disk-writer';
import type { InstanceLog } from '../../agent/logs/instance-log';
import { InstanceTable } from '../../agent/logs/instance-table';
import { createLogger, type Logger } from '../../lib/log';

/** An instance with files of `sizes` bytes whose last seqs are `seqs`; the last file is being written unless `idle`. */
function instance(stats: LogStoreStats, name: string, files: Array<{ bytes: number; lastSeq: number }>, idle = false) {
  const inst = {
    app: 'app',
    instance: name,
    dir: `/nonexistent/cluster-retention-test/${name}`,
    files,
    swept: [] as number[][],
    empty: false,
    writer: {
      oldestDeletable: () => (files.length > (idle ? 0 : 1) ? files[0] : undefined),
      deleteOldest: () => {
        const f = files.shift()!;
        stats.bytesOnDisk -= f.bytes;
      },
      afterDeletions: (done: () => void) => done(),
    },
    isEmpty: () => inst.empty || files.length === 0,
    sweep: (now: number, closeAfter: number, dropAfter: number) => inst.swept.push([now, closeAfter, dropAfter]),
  };
  return inst;
}

function stats(): LogStoreStats {
  return { lines: 0, diskDroppedLines: 0, fsErrors: 0, filesDeleted: 0, bytesOnDisk: 0 };
}

function warnings(): { logger: Logger; warned: string[] } {
  const warned: string[] = [];
  const logger = createLogger('retention-test', 'silent');
  logger.warn = ((_obj: unknown, msg: string) => void warned.push(msg)) as unknown as Logger['warn'];
  return { logger, warned };
}

describe('disk retention', () => {
  it('deletes the oldest files of any instance (by last seq) until the store is within its total', () => {
    const s = stats();
    const table = new InstanceTable();
    const web = instance(s, 'web.1', [{ bytes: 100, lastSeq: 10 }, { bytes: 100, lastSeq: 40 }, { bytes: 100, lastSeq: 60 }]);
    const worker = instance(s, 'worker.1', [{ bytes: 100, lastSeq: 20 }, { bytes: 100, lastSeq: 50 }]);
    table.add(web as unknown as InstanceLog);
    table.add(worker as unknown as InstanceLog);
    s.bytesOnDisk = 500;
    const { logger, warned } = warnings();
    new DiskRetention(table, s, 250, logger).enforceTotal();
    assert.equal(s.bytesOnDisk, 200);
    assert.deepEqual(web.files.map((f) => f.lastSeq), [60]);
    assert.deepEqual(worker.files.map((f) => f.lastSeq), [50]);
    assert.deepEqual(warned, []);
  });

  it('forgets an instance whose last file it deleted', () => {
    const s = stats();
    const forgotten: string[] = [];
    const table = new InstanceTable((i) => forgotten.push(i.instance));
    const gone = instance(s, 'old.1', [{ bytes: 100, lastSeq: 1 }], true);
    const live = instance(s, 'web.1', [{ bytes: 100, lastSeq: 5 }]);
    table.add(gone as unknown as InstanceLog);
    table.add(live as unknown as InstanceLog);
    s.bytesOnDisk = 200;
    new DiskRetention(table, s, 150, warnings().logger).enforceTotal();
    assert.deepEqual(forgotten, ['old.1']);
    assert.equal(table.get('app', 'old.1'), undefined);
    assert.equal(table.get('app', 'web.1')?.instance, 'web.1');
  });

  it('warns once while only files being written are left over the total, and again after it recovered', () => {
    const s = stats();
    const table = new InstanceTable();
    const web = instance(s, 'web.1', [{ bytes: 300, lastSeq: 1 }]);
    table.add(web as unknown as InstanceLog);
    s.bytesOnDisk = 300;
    const { logger, warned } = warnings();
    const retention = new DiskRetention(table, s, 100, logger);
    retention.enforceTotal();
    retention.enforceTotal();
    assert.equal(warned.length, 1);
    assert.match(warned[0]!, /exceed maxBytesTotal but only files being written are left/);
    assert.equal(s.bytesOnDisk, 300, 'a file being written is never deleted');
    s.bytesOnDisk = 50;
    retention.enforceTotal();
    s.bytesOnDisk = 300;
    retention.enforceTotal();
    assert.equal(warned.length, 2);
  });

  it('sweeps every instance with its idle thresholds and forgets those with nothing left', () => {
    const s = stats();
    const table = new InstanceTable();
    const a = instance(s, 'web.1', [{ bytes: 1, lastSeq: 1 }]);
    const b = instance(s, 'web.2', [{ bytes: 1, lastSeq: 2 }]);
    b.empty = true;
    table.add(a as unknown as InstanceLog);
    table.add(b as unknown as InstanceLog);
    new DiskRetention(table, s, 1000, warnings().logger).sweep(12345);
    assert.deepEqual(a.swept, [[12345, CLOSE_FILE_AFTER_MS, DROP_TAIL_AFTER_MS]]);
    assert.deepEqual(b.swept, [[12345, CLOSE_FILE_AFTER_MS, DROP_TAIL_AFTER_MS]]);
    assert.equal(table.size, 1);
    assert.equal(table.get('app', 'web.2'), undefined);
  });
});
