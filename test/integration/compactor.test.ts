/**
 * The leader's etcd compaction (control-plane/leader/compactor.ts) against a real etcd: history
 * younger than the retention stays readable, older history is compacted, and a mirror watching
 * the same prefix carries on.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Compactor, compactionTarget } from '../../control-plane/leader/compactor';
import { PrefixMirror } from '../../control-plane/etcd/mirror';
import { createLogger } from '../../lib/log';
import { exitWhenDone, uniquePrefix, useEtcd } from '../helpers/etcd';
import { waitFor } from '../helpers/wait-for';

const logger = createLogger('test', 'silent');

exitWhenDone();

describe('compactionTarget', () => {
  const marks = [
    { atMs: 1_000, revision: 10 },
    { atMs: 2_000, revision: 20 },
    { atMs: 3_000, revision: 30 },
  ];
  it('is the newest revision noted at or before the cutoff', () => {
    assert.equal(compactionTarget(marks, 999), undefined);
    assert.equal(compactionTarget(marks, 1_000), 10);
    assert.equal(compactionTarget(marks, 2_500), 20);
    assert.equal(compactionTarget(marks, 9_000), 30);
  });
});

describe('etcd compactor', { timeout: 60_000 }, () => {
  const etcd = useEtcd();

  async function revisionOf(key: string): Promise<number> {
    const res = await etcd.client.kv.range({ key: Buffer.from(key) });
    return Number(res.kvs[0]!.mod_revision);
  }

  async function readableAt(key: string, revision: number): Promise<boolean> {
    try {
      await etcd.client.kv.range({ key: Buffer.from(key), revision: String(revision) });
      return true;
    } catch (err) {
      assert.match((err as Error).message, /compacted/);
      return false;
    }
  }

  it('compacts only history older than the retention, and mirrors keep working', async () => {
    const prefix = uniquePrefix();
    const key = `${prefix}k`;
    let now = 0;
    const compactor = new Compactor(etcd.client, { historyMs: 60_000, probeKey: `${prefix}probe` }, logger, () => now);
    const mirror = await PrefixMirror.open(etcd.client, prefix, logger);
    try {
      await etcd.client.put(key).value('"v1"');
      const first = await revisionOf(key);
      await compactor.pass(); // noted at t=0 (revision `first`)
      await etcd.client.put(key).value('"v2"');
      const second = await revisionOf(key);
      now = 30_000;
      await compactor.pass(); // noted at 30 s; nothing is 60 s old yet
      assert.equal(await readableAt(key, first), true, 'history younger than the retention is kept');

      now = 61_000;
      await compactor.pass(); // the mark of t=0 is old enough: compacts to `first`
      assert.equal(await readableAt(key, first - 1), false, 'older history is compacted');
      assert.equal(await readableAt(key, first), true, 'the compaction revision itself stays readable');
      assert.equal(await readableAt(key, second), true);

      now = 95_000;
      await compactor.pass(); // the mark of 30 s: compacts to `second`'s time
      assert.equal(await readableAt(key, first), false);

      await etcd.client.put(key).value('{"n":3}');
      await waitFor('the mirror sees a put after compactions', () => mirror.decoded<{ n: number }>(key)?.n === 3);
    } finally {
      await compactor.stop();
      await mirror.close();
    }
  });
});
