/** PrefixMirror.decoded (control-plane/etcd/mirror.ts): each version of a key parsed once, never stale. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PrefixMirror } from '../../control-plane/etcd/mirror';
import { createLogger } from '../../lib/log';
import { exitWhenDone, uniquePrefix, useEtcd } from '../helpers/etcd';
import { waitFor } from '../helpers/wait-for';

const logger = createLogger('test', 'silent');

exitWhenDone();

describe('mirror decoded values', { timeout: 60_000 }, () => {
  const etcd = useEtcd();

  it('parses a value once per version, follows puts and deletes, and gives undefined for junk', async () => {
    const prefix = uniquePrefix();
    await etcd.client.put(`${prefix}a`).value('{"n":1}');
    await etcd.client.put(`${prefix}junk`).value('not json');
    const mirror = await PrefixMirror.open(etcd.client, prefix, logger);
    try {
      const first = mirror.decoded<{ n: number }>(`${prefix}a`);
      assert.deepEqual(first, { n: 1 });
      assert.equal(mirror.decoded(`${prefix}a`), first, 'the same object until the key changes');
      assert.equal(mirror.decoded(mirror.entries.get(`${prefix}a`)), first, 'by entry as by key');
      assert.equal(mirror.decoded(`${prefix}junk`), undefined);
      assert.equal(mirror.decoded(`${prefix}missing`), undefined);

      await etcd.client.put(`${prefix}a`).value('{"n":2}');
      await waitFor('the new version', () => mirror.decoded<{ n: number }>(`${prefix}a`)?.n === 2);
      assert.notEqual(mirror.decoded(`${prefix}a`), first);
      assert.deepEqual(first, { n: 1 }, 'an earlier reader keeps what it read');

      await etcd.client.delete().key(`${prefix}a`);
      await waitFor('the delete', () => !mirror.entries.has(`${prefix}a`));
      assert.equal(mirror.decoded(`${prefix}a`), undefined);
    } finally {
      await mirror.close();
    }
  });

  it('keeps each value as text, not as a view into the gRPC message that brought it', async () => {
    const prefix = uniquePrefix();
    const pad = 'x'.repeat(1_000);
    for (let i = 0; i < 20; i++) await etcd.client.put(`${prefix}${i}`).value(`{"i":${i},"pad":"${pad}"}`);
    // What etcd3 hands out: views into the one ~20 KB response.
    const raw = await etcd.client.kv.range({ key: Buffer.from(`${prefix}0`), range_end: Buffer.from(`${prefix}:`) });
    assert.ok(raw.kvs[0]!.value.buffer.byteLength > 16_384, 'etcd3 gives views into the message (the reason for the text)');
    const mirror = await PrefixMirror.open(etcd.client, prefix, logger);
    try {
      assert.equal(mirror.entries.size, 20);
      for (let i = 0; i < 20; i++) assert.equal(mirror.entries.get(`${prefix}${i}`)?.value, `{"i":${i},"pad":"${pad}"}`);
    } finally {
      await mirror.close();
    }
  });

  it('with a projection, keeps only the projection of each value, made as it arrives', async () => {
    const prefix = uniquePrefix();
    await etcd.client.put(`${prefix}a`).value('{"state":"up","pid":1,"pad":"xxxxxxxx"}');
    await etcd.client.put(`${prefix}junk`).value('not json');
    let calls = 0;
    const project = (text: string) => {
      calls++;
      const v = JSON.parse(text) as { state: string };
      return { state: v.state };
    };
    const mirror = await PrefixMirror.open(etcd.client, prefix, logger, { project });
    try {
      assert.equal(calls, 2, 'projected when loaded, not when read');
      assert.deepEqual(mirror.decoded(`${prefix}a`), { state: 'up' });
      assert.equal(mirror.entries.get(`${prefix}a`)?.value, '', 'the text is not kept');
      assert.equal(mirror.decoded(`${prefix}junk`), undefined, 'a projection that throws gives undefined');
      assert.equal(mirror.decoded(`${prefix}a`), mirror.decoded(`${prefix}a`), 'one object per version');
      await etcd.client.put(`${prefix}b`).value('{"state":"crashed"}');
      await etcd.client.put(`${prefix}a`).value('{"state":"starting"}');
      await waitFor('the watched puts', () => mirror.decoded<{ state: string }>(`${prefix}a`)?.state === 'starting');
      assert.deepEqual(mirror.decoded(`${prefix}b`), { state: 'crashed' });
      assert.equal(calls, 4);
    } finally {
      await mirror.close();
    }
  });
});

