/**
 * A change the control plane made although the call reported failure is not made again when the
 * CLI tries the call on another replica (docs/high-availability.md#retries-never-apply-twice).
 * Replica A's etcd client commits each transaction and then loses the answer (as when etcd
 * applies a write after the replica's deadline): A answers `etcd-unavailable`, the CLI's client
 * moves to replica B with the same request id, and B answers the recorded result.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { GRPCUnavailableError, type Etcd3 } from 'etcd3';
import { apiProto } from '../../proto/load';
import { AppStore } from '../../control-plane/state/app-store';
import { JobStore } from '../../control-plane/cron/job-store';
import { Keys } from '../../control-plane/keys';
import { processHandlers } from '../../control-plane/api/processes';
import { appHandlers } from '../../control-plane/api/apps';
import type { ApiContext } from '../../control-plane/rpc/context';
import { InvalidArgumentError } from '../../control-plane/errors';
import { createLogger } from '../../lib/log';
import { callUnary } from '../../lib/grpc-call';
import { REQUEST_ID_METADATA } from '../../lib/request-id';
import { INVALID_INPUT, reasonOf } from '../../lib/status-reason';
import { connectAny } from '../../cli/client';
import { exitWhenDone, uniquePrefix, useEtcd } from '../helpers/etcd';

exitWhenDone();

/** `client` whose transactions are applied and then reported as an etcd outage, while `lose.left` > 0. */
function applyThenLoseAnswer(client: Etcd3, lose: { left: number }): Etcd3 {
  const kv = new Proxy(client.kv, {
    get(target, prop) {
      if (prop === 'txn') {
        return async (...args: Parameters<typeof target.txn>) => {
          const res = await target.txn(...args);
          if (res.succeeded && lose.left > 0) {
            lose.left -= 1;
            throw new GRPCUnavailableError('14 UNAVAILABLE: the answer was lost (test)');
          }
          return res;
        };
      }
      const value = Reflect.get(target, prop) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return new Proxy(client, {
    get(target, prop) {
      if (prop === 'kv') return kv;
      const value = Reflect.get(target, prop) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

async function serve(store: AppStore): Promise<{ server: grpc.Server; address: string }> {
  const ctx = { store, keys: store.keys, logger: createLogger('test', 'silent') } as unknown as ApiContext;
  const server = new grpc.Server();
  server.addService(apiProto().ClusterApi.service, { ...processHandlers(ctx), ...appHandlers(ctx) });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return { server, address: `127.0.0.1:${port}` };
}

describe('a retry on another replica never applies a change twice', { timeout: 60_000 }, () => {
  const etcd = useEtcd();
  let home: string;
  let keys: Keys;
  let store: AppStore;
  const lose = { left: 0 };
  let a: { server: grpc.Server; address: string };
  let b: { server: grpc.Server; address: string };

  before(async () => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'cluster-replay-'));
    process.env.CLUSTER_HOME = home; // no credentials: plaintext, as for a dev cluster
    keys = new Keys(uniquePrefix());
    store = new AppStore(etcd.client, keys);
    await store.createApp('shop');
    await store.createRelease('shop', { slug: 'a'.repeat(64), processTypes: { web: 'node web.js', worker: 'sh worker.sh' }, description: 'Deploy' });
    a = await serve(new AppStore(applyThenLoseAnswer(etcd.client, lose), keys));
    b = await serve(new AppStore(etcd.client, keys));
  });

  after(() => {
    a?.server.forceShutdown();
    b?.server.forceShutdown();
    fs.rmSync(home, { recursive: true, force: true });
  });

  /** One CLI invocation: connect to [A, B] (A answers first), one call, close. */
  async function cli<T>(call: (api: Awaited<ReturnType<typeof connectAny>>['api']) => Promise<T>): Promise<T> {
    const connection = await connectAny([a.address, b.address]);
    try {
      return await call(connection.api);
    } finally {
      connection.close();
    }
  }

  it('scale web+1: A applies it and reports etcd-unavailable, B answers the same formation; web is 1, not 2', async () => {
    lose.left = 1;
    const reply = await cli((api) => callUnary(api, 'Scale', { app: 'shop', changes: [{ type: 'web', count: 1, relative: true }] }));
    assert.equal(lose.left, 0, 'replica A applied the change and lost the answer');
    assert.deepEqual(reply.formation.map((c) => [c.type, c.count]), [['web', 1]]);
    assert.deepEqual((await store.getFormation('shop')).counts, { web: 1 }, 'applied once');
    // A new invocation is a new request: it applies.
    const next = await cli((api) => callUnary(api, 'Scale', { app: 'shop', changes: [{ type: 'web', count: 1, relative: true }] }));
    assert.deepEqual(next.formation.map((c) => [c.type, c.count]), [['web', 2]]);
  });

  it('config:set makes one release, not two', async () => {
    const before = (await store.listReleases('shop')).length;
    lose.left = 1;
    const reply = await cli((api) => callUnary(api, 'SetConfig', { app: 'shop', set: { FOO: 'bar' }, unset: [] }));
    assert.equal(lose.left, 0);
    const releases = await store.listReleases('shop');
    assert.equal(releases.length, before + 1, `releases: ${releases.map((r) => `v${r.version} ${r.description}`).join(', ')}`);
    assert.equal(reply.version, releases[0]!.version);
    assert.equal(reply.description, 'Set FOO');
  });

  it('config:unset: the retried answer still names the keys that were not set', async () => {
    await store.setConfig('shop', { DOOMED: '1' }, []);
    const before = (await store.listReleases('shop')).length;
    const unset = () => cli((api) => callUnary(api, 'SetConfig', { app: 'shop', set: {}, unset: ['NOPE', 'DOOMED'], skip_not_set: true }));
    lose.left = 1;
    const reply = await unset();
    assert.equal(lose.left, 0, 'replica A applied the change and lost the answer');
    assert.deepEqual([reply.description, reply.not_set, reply.unchanged], ['Unset DOOMED', ['NOPE'], false]);
    assert.equal((await store.listReleases('shop')).length, before + 1, 'one release');
    // Run again by the user: a new request, nothing left to unset.
    const again = await unset();
    assert.deepEqual([again.not_set, again.unchanged], [['NOPE', 'DOOMED'], true]);
  });

  it('without the record a lost answer is an outage the caller sees (the store alone, no retry)', async () => {
    lose.left = 1;
    const lossy = new AppStore(applyThenLoseAnswer(etcd.client, lose), keys);
    await assert.rejects(lossy.scale('shop', [{ type: 'worker', count: 1, relative: true }], 'req-lost-0001'), GRPCUnavailableError);
    // The same request again (any replica): the recorded result, no second change.
    assert.deepEqual(await store.scale('shop', [{ type: 'worker', count: 1, relative: true }], 'req-lost-0001'), { web: 2, worker: 1 });
    assert.deepEqual((await store.getFormation('shop')).counts, { web: 2, worker: 1 });
  });

  it('schedule:run: a fire request whose answer was lost is answered again, and fires once', async () => {
    const jobs = new JobStore(etcd.client, keys, store);
    await jobs.add('shop', { name: 'report', schedule: '0 3 * * *', timeZone: '', command: 'echo report', concurrency: '', timeoutMs: 0, startingDeadlineMs: 0 });
    lose.left = 1;
    const lossyClient = applyThenLoseAnswer(etcd.client, lose);
    const lossy = new JobStore(lossyClient, keys, new AppStore(lossyClient, keys));
    await assert.rejects(lossy.requestFire('shop', 'report', 'req-fire-0001'), GRPCUnavailableError);
    assert.equal(lose.left, 0, 'the first attempt applied the fire request');
    assert.equal(await jobs.requestFire('shop', 'report', 'req-fire-0001'), 1, 'the retry answers the first fire request');
    assert.equal((await jobs.get('shop', 'report')).job.fireRequests, 1, 'one fire request, not two');
    assert.equal(await jobs.requestFire('shop', 'report', 'req-fire-0002'), 2, 'a new request fires again');
  });

  it('refuses an id reused for another request, and a malformed id, with invalid-input', async () => {
    await store.restart('shop', 'web', 'req-reused-0001');
    await assert.rejects(store.scale('shop', [{ type: 'web', count: 3 }], 'req-reused-0001'), InvalidArgumentError);
    const client = new (apiProto().ClusterApi)(b.address, grpc.credentials.createInsecure());
    try {
      const metadata = new grpc.Metadata();
      metadata.set(REQUEST_ID_METADATA, 'not an id!');
      const err = await new Promise<unknown>((resolve) =>
        client.Scale({ app: 'shop', changes: [{ type: 'web', count: 3 }] }, metadata, { deadline: Date.now() + 10_000 }, (e) => resolve(e)),
      );
      assert.equal(reasonOf(err), INVALID_INPUT);
      assert.match((err as grpc.ServiceError).details, /malformed cluster-request-id/);
    } finally {
      client.close();
    }
    assert.equal((await store.getFormation('shop')).counts.web, 2, 'nothing changed');
  });

  it('a lost answer on the only replica: the one retry after a pause answers the recorded result; applied once', async () => {
    const before = (await store.getFormation('shop')).counts.web ?? 0;
    lose.left = 1;
    const connection = await connectAny([a.address]);
    try {
      const reply = await callUnary(connection.api, 'Scale', { app: 'shop', changes: [{ type: 'web', count: 1, relative: true }] });
      assert.equal(lose.left, 0, 'replica A applied the change and lost the answer');
      assert.equal(reply.formation.find((c) => c.type === 'web')?.count, before + 1, 'the recorded result');
      assert.equal((await store.getFormation('shop')).counts.web, before + 1, 'applied once');
    } finally {
      connection.close();
    }
  });
});
