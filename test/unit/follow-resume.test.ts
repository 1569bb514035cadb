import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { RESUME_GIVE_UP_MS, ResumeTries, resumable } from '../../cli/follow-resume';
const failure = (code: grpc.status) => Object.assign(new Error('x'), { code, details: 'x', metadata: new grpc.Metadata() });

describe('a follow that goes on after its stream breaks', () => {
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
