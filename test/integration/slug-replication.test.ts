/**
 * Slugs on every replica, against a real etcd with control-plane replicas in-process: a
 * deploy copies its slug to every live replica before it returns, a replica started later
 * fetches it, a corrupt copy is never served, GC keeps exactly what releases reference,
 * and replica-to-replica calls take control-plane certificates only.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { ControlPlane } from '../../control-plane/control-plane';
import { Keys } from '../../control-plane/keys';
import { decode } from '../../control-plane/records';
import { createLogger } from '../../lib/log';
import { callUnary } from '../../lib/grpc-call';
import { issueWithNewKey, CONTROL_PLANE_NAME, type Issued } from '../../lib/pki';
import { agentProto, apiProto, slugsProto } from '../../proto/load';
import type { ClusterApiClient } from '../../proto/gen/cluster/api/ClusterApi';
import { exitWhenDone, uniquePrefix, useEtcd } from '../helpers/etcd';
import { waitFor } from '../helpers/wait-for';

const logger = createLogger('test', 'silent');

exitWhenDone();

interface Replica {
  plane: ControlPlane;
  dataDir: string;
}

function slugFile(replica: Replica, digest: string): string {
  return path.join(replica.dataDir, 'slugs', `${digest}.tgz`);
}

/** Deploys `bytes` as the slug of `app` through `api`; returns the digest. */
function deploy(api: ClusterApiClient, app: string, bytes: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const digest = createHash('sha256').update(bytes).digest('hex');
    const call = api.Deploy({ deadline: Date.now() + 30_000 }, (err) => (err ? reject(err) : resolve(digest)));
    call.write({ meta: { app, procfile: 'web: sleep 1000\n', procfile_name: 'Procfile', size: String(bytes.length) } });
    for (let at = 0; at < bytes.length; at += 64 * 1024) call.write({ data: bytes.subarray(at, at + 64 * 1024) });
    call.end();
  });
}

/** Fetches a slug the way an agent does; rejects with the gRPC error. */
function fetchAsAgent(address: string, digest: string): Promise<Buffer> {
  const client = new (agentProto().AgentApi)(address, grpc.credentials.createInsecure());
  return new Promise<Buffer>((resolve, reject) => {
    const parts: Buffer[] = [];
    const call = client.FetchSlug({ digest }, { deadline: Date.now() + 20_000 });
    call.on('data', (chunk: { data: Buffer }) => parts.push(chunk.data));
    call.on('error', reject);
    call.on('end', () => resolve(Buffer.concat(parts)));
  }).finally(() => client.close());
}

describe('slugs on every replica', { timeout: 120_000 }, () => {
  const etcd = useEtcd();
  const started: Replica[] = [];

  const startReplica = async (prefix: string, opts: { tls?: boolean; gcGraceMs?: number } = {}): Promise<Replica> => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cluster-slugs-'));
    const plane = await ControlPlane.start({
      etcd: [etcd.url],
      listen: '127.0.0.1:0',
      dataDir,
      prefix,
      tls: opts.tls,
      replicaTtlSeconds: 2,
      // Passes run when a test asks (maintain()), except the first one right after start.
      slugs: { intervalMs: 3_600_000, gcGraceMs: opts.gcGraceMs ?? 3_600_000, holderTtlSeconds: 2 },
      logger,
    });
    const replica = { plane, dataDir };
    started.push(replica);
    return replica;
  };

  const stop = async (replica: Replica) => {
    await replica.plane.close();
    fs.rmSync(replica.dataDir, { recursive: true, force: true });
  };

  const apiOf = (replica: Replica) => new (apiProto().ClusterApi)(replica.plane.address, grpc.credentials.createInsecure());

  const waitForReplicas = (replicas: Replica[]) =>
    waitFor(`${replicas.length} replicas to see each other`, () => replicas.every((r) => r.plane.replicas.list().length === replicas.length), 10_000);

  const cleanup = async () => {
    await Promise.all(started.splice(0).map((r) => stop(r).catch(() => undefined)));
  };

  it('copies a deployed slug to every live replica before deploy returns', async () => {
    const prefix = uniquePrefix();
    const a = await startReplica(prefix);
    const b = await startReplica(prefix);
    const api = apiOf(a);
    try {
      await waitForReplicas([a, b]);
      await callUnary(api, 'CreateApp', { name: 'shop' });
      const bytes = randomBytes(700 * 1024);
      const digest = await deploy(api, 'shop', bytes);
      // Right when deploy returns, B holds a verified copy: no waiting.
      assert.ok(fs.existsSync(slugFile(b, digest)), 'B has the slug when deploy returns');
      assert.deepEqual(fs.readFileSync(slugFile(b, digest)), bytes);
      const holders = await etcd.client.getAll().prefix(new Keys(prefix).slugHolders(digest)).keys();
      assert.equal(holders.length, 2, 'both replicas are recorded as holders');
      // Once A is gone, B serves it to agents.
      await stop(a);
      assert.deepEqual(await fetchAsAgent(b.plane.address, digest), bytes);
    } finally {
      api.close();
      await cleanup();
    }
  });

  it('serves a slug from a replica started after the deploy, and syncs it in the background', async () => {
    const prefix = uniquePrefix();
    const a = await startReplica(prefix);
    const api = apiOf(a);
    try {
      await callUnary(api, 'CreateApp', { name: 'shop' });
      const bytes = randomBytes(300 * 1024);
      const digest = await deploy(api, 'shop', bytes);
      const later = await startReplica(prefix);
      // The first background pass fetches the slugs of existing releases, unasked.
      await waitFor('the later replica to sync the slug', () => fs.existsSync(slugFile(later, digest)), 10_000);
      assert.deepEqual(fs.readFileSync(slugFile(later, digest)), bytes);
      // And another replica started later still, asked first, fetches it on demand.
      const third = await startReplica(prefix);
      assert.deepEqual(await fetchAsAgent(third.plane.address, digest), bytes);
      await stop(a);
      assert.deepEqual(await fetchAsAgent(later.plane.address, digest), bytes);
    } finally {
      api.close();
      await cleanup();
    }
  });

  it('never serves a corrupt copy: it is replaced from another replica, or refused', async () => {
    const prefix = uniquePrefix();
    const a = await startReplica(prefix);
    const b = await startReplica(prefix);
    const api = apiOf(a);
    try {
      await waitForReplicas([a, b]);
      await callUnary(api, 'CreateApp', { name: 'shop' });
      const bytes = randomBytes(200 * 1024);
      const digest = await deploy(api, 'shop', bytes);
      assert.deepEqual(await fetchAsAgent(b.plane.address, digest), bytes, 'served (and its check cached) once');
      // Corrupt B's copy (same size, one byte changed): B notices and fetches A's copy.
      const corrupt = Buffer.from(bytes);
      corrupt[1000] = corrupt[1000]! ^ 0xff;
      fs.writeFileSync(slugFile(b, digest), corrupt);
      assert.deepEqual(await fetchAsAgent(b.plane.address, digest), bytes);
      assert.deepEqual(fs.readFileSync(slugFile(b, digest)), bytes, 'the corrupt file was replaced');
      // With A gone and B's copy corrupt again, B refuses rather than serve wrong bytes.
      await stop(a);
      fs.writeFileSync(slugFile(b, digest), corrupt);
      await assert.rejects(fetchAsAgent(b.plane.address, digest), (err: grpc.ServiceError) => {
        assert.equal(err.code, grpc.status.NOT_FOUND);
        assert.match(err.details, /not stored on any live control-plane replica/);
        return true;
      });
      assert.equal(fs.existsSync(slugFile(b, digest)), false, 'the corrupt file is removed');
      const holders = await etcd.client.getAll().prefix(new Keys(prefix).slugHolders(digest)).keys();
      assert.deepEqual(holders, [], 'nobody is recorded as holding it any more');
    } finally {
      api.close();
      await cleanup();
    }
  });

  it('collects slugs no release references and keeps the referenced ones', async () => {
    const prefix = uniquePrefix();
    const a = await startReplica(prefix, { gcGraceMs: 0 });
    const b = await startReplica(prefix, { gcGraceMs: 0 });
    const api = apiOf(a);
    try {
      await waitForReplicas([a, b]);
      await callUnary(api, 'CreateApp', { name: 'gone' });
      await callUnary(api, 'CreateApp', { name: 'kept' });
      const goneSlug = await deploy(api, 'gone', randomBytes(50 * 1024));
      const keptOld = await deploy(api, 'kept', randomBytes(50 * 1024));
      const keptNew = await deploy(api, 'kept', randomBytes(50 * 1024));
      await callUnary(api, 'DestroyApp', { name: 'gone' });
      await Promise.all([a.plane.slugs.maintain(), b.plane.slugs.maintain()]);
      for (const replica of [a, b]) {
        assert.equal(fs.existsSync(slugFile(replica, goneSlug)), false, 'the destroyed app’s slug is deleted');
        assert.ok(fs.existsSync(slugFile(replica, keptOld)), 'an older release’s slug stays (rollback)');
        assert.ok(fs.existsSync(slugFile(replica, keptNew)));
      }
      const keys = new Keys(prefix);
      assert.deepEqual(await etcd.client.getAll().prefix(keys.slugHolders(goneSlug)).keys(), []);
      assert.equal((await etcd.client.getAll().prefix(keys.slugHolders(keptNew)).keys()).length, 2);
    } finally {
      api.close();
      await cleanup();
    }
  });

  it('keeps an unreferenced slug younger than the grace (a deploy in flight)', async () => {
    const prefix = uniquePrefix();
    const a = await startReplica(prefix, { gcGraceMs: 3_600_000 });
    const api = apiOf(a);
    try {
      await callUnary(api, 'CreateApp', { name: 'gone' });
      const digest = await deploy(api, 'gone', randomBytes(10 * 1024));
      await callUnary(api, 'DestroyApp', { name: 'gone' });
      await a.plane.slugs.maintain();
      assert.ok(fs.existsSync(slugFile(a, digest)));
    } finally {
      api.close();
      await cleanup();
    }
  });

  it('records itself as a holder again when its holder lease is lost', async () => {
    const prefix = uniquePrefix();
    const a = await startReplica(prefix);
    const api = apiOf(a);
    try {
      await callUnary(api, 'CreateApp', { name: 'shop' });
      const digest = await deploy(api, 'shop', randomBytes(10 * 1024));
      const key = new Keys(prefix).slugHolder(digest, a.plane.replicas.selfId);
      const before = (await etcd.client.kv.range({ key: Buffer.from(key) })).kvs[0];
      assert.ok(before, 'recorded as a holder');
      // What an etcd outage longer than the TTL does: the lease is gone, and the record with it.
      await etcd.client.leaseClient.leaseRevoke({ ID: before.lease });
      const after = await waitFor('the holder record to come back under a new lease', async () => {
        const kv = (await etcd.client.kv.range({ key: Buffer.from(key) })).kvs[0];
        return kv && kv.lease !== before.lease ? kv : undefined;
      }, 15_000);
      assert.ok(after.lease !== '0');
    } finally {
      api.close();
      await cleanup();
    }
  });

  it('replicates over mutual TLS and refuses replica calls from other certificates', async () => {
    const prefix = uniquePrefix();
    const a = await startReplica(prefix, { tls: true });
    const b = await startReplica(prefix, { tls: true });
    const keys = new Keys(prefix);
    const ca = decode<Issued>(await etcd.client.get(keys.ca()).buffer())!;
    const operator = await issueWithNewKey(ca, { identity: { kind: 'operator', name: 'tester' }, days: 1 });
    const creds = grpc.credentials.createSsl(Buffer.from(ca.certPem), Buffer.from(operator.keyPem), Buffer.from(operator.certPem));
    const options = { 'grpc.ssl_target_name_override': CONTROL_PLANE_NAME, 'grpc.default_authority': CONTROL_PLANE_NAME };
    const api = new (apiProto().ClusterApi)(a.plane.address, creds, options);
    const peerClient = new (slugsProto().SlugReplication)(b.plane.address, creds, options);
    try {
      await waitForReplicas([a, b]);
      await callUnary(api, 'CreateApp', { name: 'shop' });
      const bytes = randomBytes(100 * 1024);
      const digest = await deploy(api, 'shop', bytes);
      assert.deepEqual(fs.readFileSync(slugFile(b, digest)), bytes, 'copied over mTLS');
      await assert.rejects(callUnary(peerClient, 'PullSlug', { digest, sources: [], size: '0' }), (err: grpc.ServiceError) => {
        assert.equal(err.code, grpc.status.PERMISSION_DENIED);
        return true;
      });
    } finally {
      api.close();
      peerClient.close();
      await cleanup();
    }
  });
});
