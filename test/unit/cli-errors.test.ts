import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { describeFailure, EXIT_OF_REASON, ReachError, UserError } from '../../cli/errors';
import { ServerListError } from '../../lib/server-list';
import { CONFLICT, ETCD_UNAVAILABLE, INTERNAL, LIMIT_EXCEEDED, NOT_FOUND, PERMISSION_DENIED, REASON_HEADER, REASONS, reasonOf, UNAUTHENTICATED } from '../../lib/status-reason';
import { CODE_OF_REASON, toServiceError } from '../../control-plane/rpc/status';
import {
  AgentLostError,
  AlreadyExistsError,
  ConflictError,
  EtcdUnavailableError,
  FailedPreconditionError,
  InvalidArgumentError,
  LimitExceededError,
  NotFoundError,
  UnauthenticatedError,
} from '../../control-plane/errors';
import { TokenRejectedError } from '../../control-plane/security/tokens';
import { ProcfileError } from '../../lib/procfile';
import { createLogger } from '../../lib/log';

const SERVER = '127.0.0.1:7600';

function serviceError(code: grpc.status, details: string, reason?: string): grpc.ServiceError {
  const metadata = new grpc.Metadata();
  if (reason) metadata.set(REASON_HEADER, reason);
  return Object.assign(new Error(`${code} ${details}`), { code, details, metadata });
}

/** What the CLI would make of `err` thrown by a handler: through the real status mapping. */
function roundTrip(err: unknown): { message: string; exitCode: number; code?: grpc.status } {
  const status = toServiceError(err, createLogger('test', 'silent'));
  const received = Object.assign(new Error(status.details), { code: status.code!, details: status.details!, metadata: status.metadata! });
  return { ...describeFailure(received, SERVER), code: status.code };
}

describe('CLI failures: reasons decide the exit code, not message text', () => {
  it('gives every reason an exit code of the contract (1, 2 or 3) and a gRPC code', () => {
    for (const reason of REASONS) {
      assert.ok([1, 2, 3].includes(EXIT_OF_REASON[reason]), reason);
      assert.equal(typeof CODE_OF_REASON[reason], 'number', reason);
    }
  });

  const cases: Array<[string, unknown, number, grpc.status, RegExp]> = [
    ['a bad input', new InvalidArgumentError('invalid app name `A`'), 1, grpc.status.INVALID_ARGUMENT, /^invalid app name `A`$/],
    ['a limit', new LimitExceededError('worker=2000: at most 1000 (its --max-per-type)'), 1, grpc.status.INVALID_ARGUMENT, /--max-per-type/],
    ['an unknown app', new NotFoundError('app `nope` not found'), 1, grpc.status.NOT_FOUND, /^app `nope` not found$/],
    ['a duplicate', new AlreadyExistsError('app `shop` already exists'), 1, grpc.status.ALREADY_EXISTS, /already exists/],
    ['a wrong state', new FailedPreconditionError('deploy it first'), 1, grpc.status.FAILED_PRECONDITION, /deploy it first/],
    ['a bad Procfile', new ProcfileError('Procfile line 3: …', 3), 1, grpc.status.INVALID_ARGUMENT, /line 3/],
    ['a conflict', new ConflictError('too many concurrent changes to app `shop`; try again'), 3, grpc.status.ABORTED, /could not apply this: too many concurrent changes/],
    ['an etcd outage', new EtcdUnavailableError('connection refused'), 2, grpc.status.UNAVAILABLE, /^etcd is unreachable from the control plane \(connection refused\)$/],
    ['a rejected token', new TokenRejectedError('the join token has expired'), 2, grpc.status.UNAUTHENTICATED, /refused us: the join token has expired/],
    ['no credential', new UnauthenticatedError('log in'), 2, grpc.status.UNAUTHENTICATED, /refused us/],
    ['an agent lost', new AgentLostError('host-a was lost while run.7 ran (Connection dropped): its exit is unknown'), 3, grpc.status.INTERNAL, /^host-a was lost while run\.7 ran \(Connection dropped\): its exit is unknown$/],
    ['a bug', new TypeError('x is undefined'), 3, grpc.status.INTERNAL, /^the control plane at 127\.0\.0\.1:7600 failed: internal error in the control plane: x is undefined$/],
  ];
  for (const [what, err, exitCode, code, message] of cases) {
    it(`${what}: exit ${exitCode}`, () => {
      const res = roundTrip(err);
      assert.equal(res.code, code);
      assert.equal(res.exitCode, exitCode);
      assert.match(res.message, message);
    });
  }

  it('trusts the reason over the code and the text', () => {
    // A "user" code with an etcd reason is an outage; an outage's words without the reason are not.
    assert.equal(describeFailure(serviceError(grpc.status.NOT_FOUND, 'whatever', ETCD_UNAVAILABLE), SERVER).exitCode, 2);
    assert.equal(describeFailure(serviceError(grpc.status.INTERNAL, 'etcd is unreachable from the control plane (x)'), SERVER).exitCode, 3);
    assert.equal(describeFailure(serviceError(grpc.status.INVALID_ARGUMENT, 'too big', LIMIT_EXCEEDED), SERVER).exitCode, 1);
    assert.equal(describeFailure(serviceError(grpc.status.ABORTED, 'lost', CONFLICT), SERVER).exitCode, 3);
    assert.equal(describeFailure(serviceError(grpc.status.PERMISSION_DENIED, 'no', PERMISSION_DENIED), SERVER).exitCode, 2);
    assert.equal(describeFailure(serviceError(grpc.status.UNAUTHENTICATED, 'no', UNAUTHENTICATED), SERVER).exitCode, 2);
    assert.equal(describeFailure(serviceError(grpc.status.INTERNAL, 'bug', INTERNAL), SERVER).exitCode, 3);
  });

  it('ignores a reason it does not know and falls back on the code', () => {
    const err = serviceError(grpc.status.NOT_FOUND, 'app `x` not found', 'from-the-future');
    assert.equal(reasonOf(err), undefined);
    assert.deepEqual(describeFailure(err, SERVER), { message: 'app `x` not found', exitCode: 1 });
    assert.equal(reasonOf(serviceError(grpc.status.NOT_FOUND, 'x', NOT_FOUND)), NOT_FOUND);
  });

  it('says the control plane cannot be reached when the transport fails (no reason): exit 2', () => {
    const res = describeFailure(serviceError(grpc.status.UNAVAILABLE, 'No connection established. Last error: connect ECONNREFUSED'), SERVER);
    assert.equal(res.exitCode, 2);
    assert.match(res.message, /^cannot reach the control plane at 127\.0\.0\.1:7600 \(connection refused\)/);
    const tls = describeFailure(serviceError(grpc.status.UNAVAILABLE, 'Client network socket disconnected before secure TLS connection was established'), SERVER);
    assert.equal(tls.exitCode, 2);
    assert.match(tls.message, /requires TLS/);
    // A replica killed while a deploy or a run streams: no TLS problem.
    const dropped = describeFailure(serviceError(grpc.status.UNAVAILABLE, 'Connection dropped'), SERVER);
    assert.equal(dropped.exitCode, 2);
    assert.match(dropped.message, /^lost the connection to the control plane at 127\.0\.0\.1:7600 \(Connection dropped\): it stopped or restarted/);
    assert.equal(describeFailure(serviceError(grpc.status.DEADLINE_EXCEEDED, 'Deadline exceeded'), SERVER).exitCode, 2);
  });

  it('says something else answers (exit 2) only for a server without the cluster\'s service or an HTTP answer', () => {
    const other = (code: grpc.status, details: string) => describeFailure(serviceError(code, details), SERVER);
    assert.deepEqual(other(grpc.status.UNIMPLEMENTED, 'unknown service cluster.api.ClusterApi'), {
      message: 'something else answers at 127.0.0.1:7600 (unknown service cluster.api.ClusterApi): it is not a cluster control plane; check --server or CLUSTER_SERVER',
      exitCode: 2,
    });
    assert.equal(other(grpc.status.UNIMPLEMENTED, 'Received HTTP status code 404').exitCode, 2);
    assert.match(other(grpc.status.UNKNOWN, 'Received HTTP status code 418').message, /^something else answers at 127\.0\.0\.1:7600 \(HTTP status 418\)/);
    assert.equal(other(grpc.status.PERMISSION_DENIED, 'Received HTTP status code 403').exitCode, 2);
    // A proxy whose control plane is down: still "cannot reach".
    assert.match(other(grpc.status.UNAVAILABLE, 'Received HTTP status code 503').message, /^cannot reach the control plane/);
    // A control plane (grpc-js) of another version, lacking a method; any other failure of one.
    assert.equal(other(grpc.status.UNIMPLEMENTED, 'The server does not implement the method /cluster.api.ClusterApi/ListApps').exitCode, 3);
    assert.equal(other(grpc.status.UNKNOWN, 'unknown service cluster.api.ClusterApi').exitCode, 3);
    assert.equal(describeFailure(serviceError(grpc.status.UNIMPLEMENTED, 'unknown service x', INTERNAL), SERVER).exitCode, 3, 'a reason decides');
  });

  it('maps the CLI\'s own errors', () => {
    assert.deepEqual(describeFailure(new UserError('no app given'), SERVER), { message: 'no app given', exitCode: 1 });
    assert.deepEqual(describeFailure(new ReachError('etcd away'), SERVER), { message: 'etcd away', exitCode: 2 });
    assert.equal(describeFailure(new ServerListError('bad --server'), SERVER).exitCode, 2);
    assert.equal(describeFailure(new Error('boom'), SERVER).exitCode, 3);
  });
});
