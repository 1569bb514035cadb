import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { describeFailure } from '../../cli/errors';
import { ETCD_UNAVAILABLE, REASON_HEADER } from '../../lib/status-reason';

function serviceError(code: grpc.status, details: string, reason?: string): grpc.ServiceError {
  const metadata = new grpc.Metadata();
  if (reason) metadata.set(REASON_HEADER, reason);
  return Object.assign(new Error(`${code} ${details}`), { code, details, metadata });
}

describe('CLI failures', () => {
  it('says etcd is unreachable from the control plane, exit 2, when the control plane says so', () => {
    const details = 'etcd is unreachable from the control plane (connection refused)';
    assert.deepEqual(describeFailure(serviceError(grpc.status.UNAVAILABLE, details, ETCD_UNAVAILABLE), '127.0.0.1:7600'), { message: details, exitCode: 2 });
  });

  it('still says the control plane cannot be reached when the transport fails', () => {
    const res = describeFailure(serviceError(grpc.status.UNAVAILABLE, 'No connection established. Last error: connect ECONNREFUSED'), '127.0.0.1:7600');
    assert.equal(res.exitCode, 2);
    assert.match(res.message, /^cannot reach the control plane at 127\.0\.0\.1:7600 \(connection refused\)/);
  });
});
