import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { ReaderPositions, RESUME_GIVE_UP_MS, ResumeTries, resumable } from '../../cli/follow-resume';
import { packLines } from '../../lib/log-packing';
import type { LogBatch__Output } from '../../proto/gen/cluster/logs/LogBatch';

function packed(host: string, seqs: number[]): LogBatch__Output {
  const bytes = packLines(seqs.map((seq) => ({ timeMs: 1, seq, instance: 'web.1', stream: 'stdout', text: 'x', cut: false })));
  return { lines: [], history_done: false, warnings: [], packed: bytes, app: 'shop', host };
}

const failure = (code: grpc.status) => Object.assign(new Error('x'), { code, details: 'x', metadata: new grpc.Metadata() });

describe('a follow that goes on after its stream breaks', () => {
  it('knows the last seq the reader has of each host, packed or not, never going back', () => {
    const positions = new ReaderPositions();
    positions.note(packed('a', [5, 6, 7]));
    positions.note(packed('b', [100]));
    positions.note(packed('a', [3])); // merged history may show an older batch of a host later
    positions.note({ ...packed('', []), packed: Buffer.alloc(0), lines: [{ time_ms: 1, seq: 9, app: 'shop', instance: 'web.1', stream: 'stdout', text: 'x', cut: false, host: 'c' }] });
    positions.note({ ...packed('d', []), warnings: ['w'] }); // no lines: nothing known of d
    assert.deepEqual(positions.list().sort((x, y) => String(x.host).localeCompare(String(y.host))), [{ host: 'a', seq: 7 }, { host: 'b', seq: 100 }, { host: 'c', seq: 9 }]);
  });

  it('goes on after a replica failure, never after a refusal of the request', () => {
    for (const code of [grpc.status.UNAVAILABLE, grpc.status.CANCELLED, grpc.status.INTERNAL, grpc.status.UNKNOWN, grpc.status.DEADLINE_EXCEEDED]) {
      assert.equal(resumable(failure(code)), true, grpc.status[code]);
    }
    for (const code of [grpc.status.INVALID_ARGUMENT, grpc.status.NOT_FOUND, grpc.status.PERMISSION_DENIED, grpc.status.UNAUTHENTICATED]) {
      assert.equal(resumable(failure(code)), false, grpc.status[code]);
    }
  });

  it('tries with growing pauses, gives up after a minute without an answer, and starts over once answered', () => {
    const tries = new ResumeTries();
    assert.equal(tries.firstTry, true);
    const first = tries.next(0)!;
    assert.ok(first > 0 && first <= 2_000, String(first));
    assert.equal(tries.firstTry, false);
    let pauses = 0;
    for (let t = 1_000; t < RESUME_GIVE_UP_MS; t += 1_000) {
      const pause = tries.next(t);
      assert.ok(pause !== undefined && pause <= 2_000);
      pauses += 1;
    }
    assert.ok(pauses > 50);
    assert.equal(tries.next(RESUME_GIVE_UP_MS), undefined, 'a minute without an answer');
    tries.answered();
    assert.equal(tries.firstTry, true);
    assert.ok(tries.next(RESUME_GIVE_UP_MS + 10) !== undefined, 'a new break has its own minute');
  });
});
