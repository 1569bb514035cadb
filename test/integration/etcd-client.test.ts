/**
 * The control plane's etcd client (control-plane/etcd/client.ts) against a real etcd: a request
 * etcd refuses never blocks the next ones; an etcd that is gone or paused fails calls within
 * their deadline as an outage; calls and watches resume soon after etcd is back; a dropped
 * connection is not taken for a member gone.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as os from 'node:os';
import * as path from 'node:path';
import * as fs from 'node:fs';
import type { Etcd3 } from 'etcd3';
import { EtcdCluster } from '../../lib/etcd-cluster';
import { createEtcdClient } from '../../control-plane/etcd/client';
import { asEtcdOutage } from '../../control-plane/etcd/outage';
import { PrefixMirror } from '../../control-plane/etcd/mirror';
import { createLogger } from '../../lib/log';
import { uniquePrefix } from '../helpers/etcd';
import { waitFor } from '../helpers/wait-for';
import { tcpProxy } from '../helpers/tcp-proxy';

const logger = createLogger('test', 'silent');

describe('etcd client fault handling', { timeout: 90_000 }, () => {
  let etcd: EtcdCluster;
  let client: Etcd3;
  let dir: string;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cluster-etcd-client-'));
    etcd = await EtcdCluster.start(path.join(dir, 'data'), { members: 1 });
    client = createEtcdClient(etcd.urls, { callDeadlineMs: 1_500 });
  });

  after(async () => {
    client?.close();
    await etcd?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('keeps serving after requests etcd refuses as too large', async () => {
    const prefix = uniquePrefix();
    for (let i = 0; i < 6; i++) {
      const err = await client.put(`${prefix}big`).value(Buffer.alloc(3 * 1024 * 1024, 1)).then(() => undefined, (e: Error) => e);
      assert.ok(err, 'etcd refuses a 3 MiB request');
      assert.equal(asEtcdOutage(err), undefined, `a refused request is not an outage: ${err.message}`);
    }
    const started = Date.now();
    await client.put(`${prefix}small`).value('ok');
    assert.equal(await client.get(`${prefix}small`).string(), 'ok');
    assert.ok(Date.now() - started < 1_000, 'the next requests are served at once');
  });

  it('fails calls as an outage within the deadline while etcd is gone, and resumes calls and watches once it is back', async () => {
    const prefix = uniquePrefix();
    const mirror = await PrefixMirror.open(client, prefix, logger);
    try {
      const member = etcd.members[0]!;
      await member.kill('SIGKILL');
      for (let i = 0; i < 5; i++) {
        const started = Date.now();
        const err = await client.get(`${prefix}x`).then(() => undefined, (e: Error) => e);
        assert.ok(asEtcdOutage(err), `an outage: ${err?.message}`);
        assert.doesNotMatch(asEtcdOutage(err)!.message, /circuit|breaker/i);
        assert.ok(Date.now() - started < 2_500, 'within the deadline');
      }
      member.spawn();
      const backAt = Date.now();
      await waitFor('a put to succeed', () => client.put(`${prefix}after`).value('1').then(() => true, () => false), 10_000, 100);
      await waitFor('the mirror to see the put', () => mirror.entries.has(`${prefix}after`), 5_000, 50);
      assert.ok(Date.now() - backAt < 5_000 + 2_000, `resumed ${Date.now() - backAt} ms after the restart`);
    } finally {
      await mirror.close();
    }
  });

  it('takes a dropped connection, which fails every stream on it at once, for no outage: requests go on', async () => {
    const proxy = await tcpProxy(Number(new URL(etcd.urls[0]!).port));
    const viaProxy = createEtcdClient([`http://127.0.0.1:${proxy.port}`], { callDeadlineMs: 1_500 });
    const prefix = uniquePrefix();
    const { ID } = await viaProxy.leaseClient.leaseGrant({ TTL: 30, ID: '0' });
    // Four keepalive streams (as the renewals of agents' leases use) and a watch, on one connection.
    const streams = await Promise.all([1, 2, 3, 4].map(() => viaProxy.leaseClient.leaseKeepAlive()));
    const watcher = await viaProxy.watch().prefix(prefix).create();
    try {
      let failed = 0;
      for (const stream of streams) (stream as unknown as NodeJS.EventEmitter).on('error', () => (failed += 1));
      await Promise.all(streams.map((stream) => new Promise((resolve) => {
        (stream as unknown as NodeJS.EventEmitter).once('data', resolve);
        stream.write({ ID });
      })));
      assert.equal(proxy.accepted(), 1, 'every stream on the one connection');
      proxy.cut();
      await waitFor('the streams to fail with their connection', () => failed === streams.length, 5_000);
      // etcd3 alone counted each stream against the member: its breaker opened and refused these.
      for (let i = 0; i < 5; i++) await viaProxy.put(`${prefix}k`).value(String(i));
      assert.equal(await viaProxy.get(`${prefix}k`).string(), '4');
    } finally {
      for (const stream of streams) stream.end();
      await watcher.cancel();
      await viaProxy.leaseClient.leaseRevoke({ ID }).catch(() => undefined);
      viaProxy.close();
      await proxy.close();
    }
  });

  it('fails calls within the deadline while etcd is paused', async () => {
    const member = etcd.members[0]!;
    await member.waitUntilServing();
    await member.kill('SIGSTOP');
    try {
      const started = Date.now();
      const err = await client.get('anything').then(() => undefined, (e: Error) => e);
      assert.ok(asEtcdOutage(err), `an outage: ${err?.message}`);
      assert.ok(Date.now() - started < 2_500, `answered in ${Date.now() - started} ms`);
    } finally {
      await member.kill('SIGCONT');
    }
    await waitFor('etcd to answer again', () => client.get('anything').then(() => true, () => false), 10_000, 100);
  });
});
