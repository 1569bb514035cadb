import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Metadata, status } from '@grpc/grpc-js';
import { asEtcdOutage, logPassFailed } from '../../control-plane/etcd/outage';
import type { Logger } from '../../lib/log';

/** An error as grpc-js hands it to a stream's 'error' listener (etcd3 does not cast those). */
function rawGrpcError(code: status, details: string): Error {
  return Object.assign(new Error(`${code} ${status[code]}: ${details}`), { code, details, metadata: new Metadata() });
}

describe('etcd outage: errors of lease keepalive streams', () => {
  it('counts a dropped or refused connection and a passed deadline as an outage', () => {
    assert.ok(asEtcdOutage(rawGrpcError(status.UNAVAILABLE, 'Connection dropped')));
    assert.match(asEtcdOutage(rawGrpcError(status.UNAVAILABLE, 'No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:1'))!.message, /connection refused/);
    assert.ok(asEtcdOutage(rawGrpcError(status.DEADLINE_EXCEEDED, 'Deadline exceeded')));
  });

  it('names the reason in a few words, not in grpc-js\'s', () => {
    const reason = (details: string) => asEtcdOutage(rawGrpcError(status.UNAVAILABLE, details))!.message;
    assert.match(reason('Connection dropped'), /\(connection lost\)$/);
    assert.match(reason('Channel closed before call started'), /\(connection lost\)$/);
    assert.match(reason('No connection established. Last error: Error: read ECONNRESET'), /\(connection lost\)$/);
    assert.match(reason('No connection established. Last error: null'), /\(no connection\)$/);
  });

  it('leaves a refused request alone', () => {
    assert.equal(asEtcdOutage(rawGrpcError(status.INVALID_ARGUMENT, 'bad lease id')), undefined);
    assert.equal(asEtcdOutage(rawGrpcError(status.RESOURCE_EXHAUSTED, 'request is too large')), undefined);
    assert.equal(asEtcdOutage(Object.assign(new Error('not grpc'), { code: 14 })), undefined);
  });
});

describe('logPassFailed', () => {
  /** What a leader loop's failed pass logs, level by level. */
  function logged(err: unknown): { warn: unknown[][]; error: unknown[][] } {
    const out = { warn: [] as unknown[][], error: [] as unknown[][] };
    const logger = { warn: (...args: unknown[]) => out.warn.push(args), error: (...args: unknown[]) => out.error.push(args) } as unknown as Logger;
    logPassFailed(logger, err, 'scheduled jobs pass');
    return out;
  }

  it('logs an etcd outage as a warning in a few words, without a stack', () => {
    const out = logged(rawGrpcError(status.UNAVAILABLE, 'No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:1'));
    assert.deepEqual(out.error, []);
    assert.deepEqual(out.warn, [['scheduled jobs pass failed: etcd is unreachable from the control plane (connection refused); retrying']]);
  });

  it('logs anything else as an error, with the error', () => {
    const bug = new TypeError('x is undefined');
    const out = logged(bug);
    assert.deepEqual(out.warn, []);
    assert.deepEqual(out.error, [[{ err: bug }, 'scheduled jobs pass failed; retrying']]);
  });
});
