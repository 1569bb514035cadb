/** cli/wait-reads.ts: a --wait's reads outlast a control plane's restart, and give up in time. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { ReachError } from '../../cli/errors';
import { WaitReads } from '../../cli/wait-reads';

const unavailable = () => Object.assign(new Error('14 UNAVAILABLE: No connection established'), { code: grpc.status.UNAVAILABLE, details: 'No connection established' });

/** A read that fails `failures` times with `error()`, then answers `value`; counts its calls. */
function flaky<T>(failures: number, value: T, error: () => Error = unavailable) {
  const read = async () => {
    read.calls++;
    if (read.calls <= failures) throw error();
    return value;
  };
  read.calls = 0;
  return read;
}

describe('WaitReads', () => {
  it('tries a read again while no replica answers, and says so', async () => {
    const shown: string[] = [];
    const reads = new WaitReads('cluster ps -a shop', (line) => shown.push(line), 5_000, 5);
    const read = flaky(3, 'ps');
    assert.equal(await reads.read(read, Date.now() + 60_000), 'ps');
    assert.equal(read.calls, 4);
    assert.match(shown[0]!, /^waiting: no control plane answers \(No connection established\); the change was made, trying again$/);
  });

  it('gives up after that long unreachable in a row, saying the change was made', async () => {
    const reads = new WaitReads('cluster ps -a shop', () => undefined, 50, 5);
    await assert.rejects(reads.read(flaky(Infinity, 'ps'), Date.now() + 60_000), (err: Error) => {
      assert.ok(err instanceof ReachError);
      assert.match(err.message, /^no control plane answered for \d+ s while waiting \(No connection established\): the change itself was made; see how far it got with `cluster ps -a shop`$/);
      return true;
    });
  });

  it('gives up at the wait\'s deadline, and at once on any other error', async () => {
    const reads = new WaitReads('cluster ps -a shop', () => undefined, 60_000, 5);
    await assert.rejects(reads.read(flaky(Infinity, 'ps'), Date.now() + 30), ReachError);
    const denied = Object.assign(new Error('7 PERMISSION_DENIED'), { code: grpc.status.PERMISSION_DENIED });
    const read = flaky(1, 'ps', () => denied);
    await assert.rejects(reads.read(read, Date.now() + 60_000), /PERMISSION_DENIED/);
    assert.equal(read.calls, 1);
  });

  it('counts unreachable time anew after a read that answered', async () => {
    const reads = new WaitReads('cluster ps -a shop', () => undefined, 200, 5);
    // ~15 ms unreachable each time, 20 times: 300 ms in all, never 200 in a row.
    for (let i = 0; i < 20; i++) assert.equal(await reads.read(flaky(3, i), Date.now() + 60_000), i);
  });
});
