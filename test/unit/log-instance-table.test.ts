import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import type { InstanceLog } from '../../agent/logs/instance-log';
import { InstanceTable } from '../../agent/logs/instance-table';
import { waitFor } from '../helpers/wait-for';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cluster-instance-table-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));

/**
 * What the table reads of an instance: names, directory, whether it holds lines, and when its
 * file deletions are done (at once, unless `deletions` holds the callbacks).
 */
function inst(app: string, instance: string, opts: { tail?: number; bytes?: number[]; deletions?: Array<() => void> } = {}): InstanceLog {
  return {
    app,
    instance,
    dir: path.join(root, app, instance),
    tail: { length: opts.tail ?? 0 },
    files: (opts.bytes ?? []).map((bytes) => ({ bytes })),
    writer: { afterDeletions: (done: () => void) => (opts.deletions ? opts.deletions.push(done) : done()) },
  } as unknown as InstanceLog;
}

const names = (list: Iterable<InstanceLog>) => [...list].map((i) => `${i.app}/${i.instance}`).sort();

describe('instance table', () => {
  it('finds instances by name and by filter (app, process type, instance)', () => {
    const table = new InstanceTable();
    for (const i of [inst('a', 'web.1'), inst('a', 'web.2'), inst('a', 'worker.1'), inst('b', 'web.1')]) table.add(i);
    assert.equal(table.size, 4);
    assert.equal(table.get('a', 'web.2')?.instance, 'web.2');
    assert.equal(table.get('b', 'web.2'), undefined);
    assert.deepEqual(names(table.matching({ app: 'a' })), ['a/web.1', 'a/web.2', 'a/worker.1']);
    assert.deepEqual(names(table.matching({ app: 'a', type: 'web' })), ['a/web.1', 'a/web.2']);
    assert.deepEqual(names(table.matching({ app: 'a', instance: 'worker.1' })), ['a/worker.1']);
    assert.deepEqual(names(table.matching({ app: 'c' })), []);
    assert.deepEqual(names(table.all()), ['a/web.1', 'a/web.2', 'a/worker.1', 'b/web.1']);
  });

  it('lists, sorted, the apps with lines in memory or on disk', () => {
    const table = new InstanceTable();
    table.add(inst('zeta', 'web.1', { tail: 3 }));
    table.add(inst('alpha', 'web.1', { bytes: [0, 10] }));
    table.add(inst('empty', 'web.1', { bytes: [0] }));
    assert.deepEqual(table.apps(), ['alpha', 'zeta']);
  });

  it('forgets an instance, tells the store, and removes its directory and its app once empty', async () => {
    const forgotten: string[] = [];
    const table = new InstanceTable((i) => forgotten.push(i.instance));
    const web = inst('app', 'web.1');
    const worker = inst('app', 'worker.1');
    fs.mkdirSync(web.dir, { recursive: true });
    fs.mkdirSync(worker.dir, { recursive: true });
    fs.writeFileSync(path.join(worker.dir, '1.log'), 'kept\n');
    table.add(web);
    table.add(worker);

    table.forget(web);
    assert.deepEqual(forgotten, ['web.1']);
    assert.equal(table.get('app', 'web.1'), undefined);
    assert.equal(table.size, 1);
    await waitFor('the empty instance directory removed', () => !fs.existsSync(web.dir), { timeoutMs: 10_000 });
    assert.ok(fs.existsSync(path.join(root, 'app')), 'the app directory still holds another instance');

    // A directory that is not empty stays.
    table.forget(worker);
    assert.deepEqual(table.apps(), []);
    assert.equal(table.size, 0);
    // Give the (callback-based) rmdir a chance to run, then check it left the file alone.
    await new Promise<void>((resolve) => fs.rmdir(path.join(root, 'nonexistent'), () => resolve()));
    assert.ok(fs.existsSync(path.join(worker.dir, '1.log')));
  });

  it('removes the directory only once the deletions of its files have finished', async () => {
    const deletions: Array<() => void> = [];
    const table = new InstanceTable();
    const web = inst('late', 'web.1', { deletions });
    fs.mkdirSync(web.dir, { recursive: true });
    table.add(web);
    table.forget(web);
    assert.equal(table.get('late', 'web.1'), undefined, 'forgotten at once');
    await new Promise<void>((resolve) => fs.rmdir(path.join(root, 'nonexistent'), () => resolve()));
    assert.ok(fs.existsSync(web.dir), 'kept while a deletion is in flight');
    assert.equal(deletions.length, 1);
    const cleanup = table.cleanupOf(web.dir);
    assert.ok(cleanup, 'a new instance of the name has a clean-up to wait for');
    const state = () => Promise.race([cleanup.then(() => 'over'), new Promise((resolve) => setImmediate(() => resolve('running')))]);
    assert.equal(await state(), 'running');
    deletions[0]!();
    await waitFor('the directory removed after the deletions', () => !fs.existsSync(path.join(root, 'late')), { timeoutMs: 10_000 });
    await cleanup;
    assert.equal(table.cleanupOf(web.dir), undefined, 'nothing left to wait for');
    assert.equal(table.cleanupOf(inst('late', 'web.2').dir), undefined, 'other names wait for nothing');
  });

  it('does not forget an instance that was replaced under its name', () => {
    const forgotten: string[] = [];
    const table = new InstanceTable((i) => forgotten.push(i.instance));
    const old = inst('app', 'web.9');
    const current = inst('app', 'web.9');
    table.add(old);
    table.add(current);
    table.forget(old);
    assert.equal(table.get('app', 'web.9'), current);
    assert.deepEqual(forgotten, []);
  });
});
