/**
 * The CLI's client against a stand-in control plane on loopback: a call refused with reason
 * `conflict` (nothing changed) is tried again after a jittered pause, a few times; one refused
 * with `etcd-unavailable` once more after a pause (its request id makes that safe); other
 * refusals are not retried.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { apiProto } from '../../proto/load';
import { CONFLICT_ATTEMPTS, connectAny } from '../../cli/client';
import { describeFailure } from '../../cli/errors';
import { callUnary } from '../../lib/grpc-call';
import { CONFLICT, ETCD_UNAVAILABLE, NOT_FOUND, reasonOf } from '../../lib/status-reason';
import { refusal } from '../../control-plane/rpc/status';

describe('CLI retries conflicts', { timeout: 30_000 }, () => {
  let server: grpc.Server;
  let address: string;
  let home: string;
  /** What the next ListApps calls answer, in order; then success. */
  let script: Array<'conflict' | 'not-found' | 'etcd'> = [];
  /** The request id of each ListApps call. */
  let ids: string[] = [];
  let calls: number[] = [];

  before(async () => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'cluster-conflict-'));
    process.env.CLUSTER_HOME = home; // no credentials: plaintext, as for a dev cluster
    server = new grpc.Server();
    server.addService(apiProto().ClusterApi.service, {
      ListApps: (call: grpc.ServerUnaryCall<unknown, unknown>, callback: (err: Partial<grpc.StatusObject> | null, res?: unknown) => void) => {
        calls.push(Date.now());
        ids.push(String(call.metadata.get('cluster-request-id')[0]));
        const next = script.shift();
        if (next === 'conflict') return callback(refusal(CONFLICT, 'too many concurrent changes to app `shop`; try again'));
        if (next === 'etcd') return callback(refusal(ETCD_UNAVAILABLE, 'etcd is unreachable from the control plane (no answer in time)'));
        if (next === 'not-found') return callback(refusal(NOT_FOUND, 'app `shop` not found'));
        callback(null, { apps: [] });
      },
      // etcd-unavailable, then no answer at all (etcd paused: the replica's transaction waits).
      Scale: (_call: unknown, callback: (err: Partial<grpc.StatusObject> | null) => void) => {
        calls.push(Date.now());
        if (calls.length === 1) callback(refusal(ETCD_UNAVAILABLE, 'etcd is unreachable from the control plane (no answer in time)'));
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    address = `127.0.0.1:${port}`;
  });

  after(() => {
    server.forceShutdown();
    fs.rmSync(home, { recursive: true, force: true });
  });

  const listApps = async () => {
    const connection = await connectAny([address]);
    try {
      return await callUnary(connection.api, 'ListApps', {});
    } finally {
      connection.close();
    }
  };

  it('succeeds when a later attempt wins, after pauses', async () => {
    script = ['conflict', 'conflict'];
    calls = [];
    assert.deepEqual((await listApps()).apps, []);
    assert.equal(calls.length, 3);
  });

  it(`gives up after ${CONFLICT_ATTEMPTS} attempts with the conflict: exit 3`, async () => {
    script = Array.from({ length: 10 }, () => 'conflict' as const);
    calls = [];
    const err = await listApps().then(() => undefined, (e: unknown) => e);
    assert.equal(reasonOf(err), CONFLICT);
    assert.equal(calls.length, CONFLICT_ATTEMPTS);
    const pauses = calls.slice(1).map((t, i) => t - calls[i]!);
    assert.ok(pauses.every((ms) => ms <= 2_000), `pauses ${pauses.join(', ')} ms`);
    const { exitCode, message } = describeFailure(err, address);
    assert.equal(exitCode, 3);
    assert.match(message, /could not apply this: too many concurrent changes to app `shop`; try again/);
  });

  it('does not retry other refusals', async () => {
    script = ['not-found'];
    calls = [];
    const err = await listApps().then(() => undefined, (e: unknown) => e);
    assert.equal(reasonOf(err), NOT_FOUND);
    assert.equal(calls.length, 1);
    assert.equal(describeFailure(err, address).exitCode, 1);
  });

  it('makes a call refused with etcd-unavailable once more, with the same request id, after a pause', async () => {
    script = ['etcd'];
    calls = [];
    ids = [];
    assert.deepEqual((await listApps()).apps, []);
    assert.equal(calls.length, 2);
    assert.equal(ids[0], ids[1], 'the retry carries the first attempt\'s request id');
    assert.ok(calls[1]! - calls[0]! >= 900, `paused ${calls[1]! - calls[0]!} ms`);
  });

  it('reports etcd-unavailable after the one retry: exit 2', async () => {
    script = ['etcd', 'etcd', 'etcd'];
    calls = [];
    const err = await listApps().then(() => undefined, (e: unknown) => e);
    assert.equal(reasonOf(err), ETCD_UNAVAILABLE);
    assert.equal(calls.length, 2);
    const { exitCode, message } = describeFailure(err, address);
    assert.equal(exitCode, 2);
    assert.match(message, /etcd is unreachable from the control plane/);
    assert.doesNotMatch(message, /may still be made/, 'a read changes nothing');
  });

  it('reports a change whose deadline ran out waiting for etcd as etcd-unavailable, whose outcome is unknown', async () => {
    calls = [];
    const connection = await connectAny([address]);
    const err = await callUnary(connection.api, 'Scale', { app: 'shop', changes: [{ type: 'worker', count: 1 }] }, 2_500)
      .then(() => undefined, (e: unknown) => e)
      .finally(() => connection.close());
    assert.equal(calls.length, 2);
    assert.equal(reasonOf(err), ETCD_UNAVAILABLE, 'not "cannot reach the control plane"');
    const { exitCode, message } = describeFailure(err, address);
    assert.equal(exitCode, 2);
    assert.match(message, /^etcd is unreachable from the control plane \(no answer in time\)\. The change was sent and may still be made: look \(`cluster ps`, `cluster releases`, `cluster config`\) before running it again$/);
  });
});
