/** cli/run-connection-lost.ts: what an attached `cluster run` says when its replica's connection is lost. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { ReachError } from '../../cli/errors';
import { runConnectionLost } from '../../cli/run-connection-lost';
import { REASON_HEADER } from '../../lib/status-reason';

const dropped = (metadata = new grpc.Metadata()) =>
  Object.assign(new Error('14 UNAVAILABLE: Connection dropped'), { code: grpc.status.UNAVAILABLE, details: 'Connection dropped', metadata }) as grpc.ServiceError;

describe('runConnectionLost', () => {
  it('says a started one-off is stopped and names its logs', () => {
    const err = runConnectionLost(dropped(), { server: '10.0.0.5:7600', app: 'shop', started: { instance: 'run.7', host: 'host-a' } });
    assert.ok(err instanceof ReachError);
    assert.equal(
      err.message,
      'lost the connection to the control plane at 10.0.0.5:7600 (Connection dropped) while run.7 ran on host-a: its agent stops it once its call breaks ' +
        '(SIGTERM, then SIGKILL 5 s later), so it did not run to its end unless it had ended already; see what it did with `cluster logs --ps run.7 -a shop` before running it again',
    );
  });

  it('says whether it started is unknown before its agent said so', () => {
    const err = runConnectionLost(dropped(), { server: '10.0.0.5:7600', app: 'shop' });
    assert.match(err!.message, /before it said whether the one-off started: if it did, its agent stops it .*`cluster logs -p run -a shop` before running it again$/);
  });

  it('leaves any other failure to the usual wording', () => {
    const withReason = new grpc.Metadata();
    withReason.set(REASON_HEADER, 'etcd-unavailable');
    assert.equal(runConnectionLost(dropped(withReason), { server: 's', app: 'shop' }), undefined);
    const internal = Object.assign(dropped(), { code: grpc.status.INTERNAL });
    assert.equal(runConnectionLost(internal, { server: 's', app: 'shop' }), undefined);
  });
});
