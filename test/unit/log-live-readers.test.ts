import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { InstanceLog } from '../../agent/logs/instance-log';
import { InstanceTable } from '../../agent/logs/instance-table';
import { LiveReaders } from '../../agent/logs/live-readers';
import type { LogLine } from '../../agent/logs/log-line';

/** What the readers touch of an instance: its list of cursors and its writer's position. */
function inst(app: string, instance: string): InstanceLog {
  return { app, instance, cursors: [], writer: { instance, lastN: 0 } } as unknown as InstanceLog;
}

function line(instance: string, seq: number): LogLine {
  return { timeMs: seq, seq, app: 'app', instance, stream: 'stdout', text: `line ${seq}`, cut: false, n: seq };
}

describe('live readers', () => {
  it('puts a reader on the list of every instance it matches, now and later, and takes it off when it closes', async () => {
    const table = new InstanceTable();
    const web1 = inst('app', 'web.1');
    const worker = inst('app', 'worker.1');
    table.add(web1);
    table.add(worker);
    const readers = new LiveReaders(table, () => 0);
    const cursor = readers.open({ app: 'app', type: 'web' }, 0, {}, false);
    assert.equal(readers.size, 1);
    assert.deepEqual(web1.cursors, [cursor]);
    assert.deepEqual(worker.cursors, []);

    const web2 = inst('app', 'web.2');
    readers.join(web2);
    table.add(web2);
    readers.join(inst('other', 'web.1'));
    assert.deepEqual(web2.cursors, [cursor]);

    // Lines pushed to the instances' lists reach the reader.
    web2.cursors[0]!.push(line('web.2', 1));
    assert.deepEqual((await cursor.next(10))?.map((l) => l.text), ['line 1']);

    cursor.close();
    assert.equal(readers.size, 0);
    assert.deepEqual(web1.cursors, []);
    assert.deepEqual(web2.cursors, []);
    assert.equal(await cursor.next(10), null);
  });

  it('a reader opened on a closed store ends at once and is not kept', async () => {
    const table = new InstanceTable();
    const web = inst('app', 'web.1');
    table.add(web);
    const readers = new LiveReaders(table, () => 0);
    const cursor = readers.open({ app: 'app' }, 0, {}, true);
    assert.equal(readers.size, 0);
    assert.deepEqual(web.cursors, []);
    assert.equal(await cursor.next(1), null);
  });

  it('closeAll ends every reader', async () => {
    const table = new InstanceTable();
    table.add(inst('app', 'web.1'));
    const readers = new LiveReaders(table, () => 0);
    const a = readers.open({ app: 'app' }, 0, {}, false);
    const b = readers.open({ app: 'app', instance: 'web.1' }, 0, {}, false);
    const pending = a.next(1);
    readers.closeAll();
    assert.equal(readers.size, 0);
    assert.equal(await pending, null);
    assert.equal(await b.next(1), null);
  });

  it('rejects queue bounds that are not positive, naming the option', () => {
    const readers = new LiveReaders(new InstanceTable(), () => 0);
    assert.throws(() => readers.open({ app: 'app' }, 0, { maxQueuedLines: 0 }, false), /maxQueuedLines must be a positive number/);
    assert.throws(() => readers.open({ app: 'app' }, 0, { maxQueuedBytes: -1 }, false), /maxQueuedBytes must be a positive number/);
    assert.equal(readers.size, 0);
  });
});
