import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { FollowWarnings, RESUME_GIVE_UP_MS, ResumeTries, resumable } from '../../cli/follow-resume';
import { FIRST_ANSWER_MS, FirstAnswer } from '../../cli/first-answer';
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

describe('the warnings of a follow that resumed', () => {
  it('holds back only what a resumed stream opens with and the reader was told already', () => {
    const warnings = new FollowWarnings();
    assert.deepEqual(warnings.toPrint(['host x is not registered'], false), ['host x is not registered']);
    assert.deepEqual(warnings.toPrint(['host x is not registered', 'host y is not registered'], true), ['host y is not registered']);
    assert.deepEqual(warnings.toPrint(['host y is not registered'], true), [], 'said by the last replica too');
    // Said again later in a stream: news (a host that stopped again).
    assert.deepEqual(warnings.toPrint(['host x is not registered'], false), ['host x is not registered']);
  });
});

describe('a logs call before its first batch', () => {
  /** Replicas as cli/client.ts moves through them. */
  const replicas = (...servers: string[]) => {
    let i = 0;
    return {
      get server() {
        return servers[i]!;
      },
      moveOn: () => servers[(i = (i + 1) % servers.length)]!,
    };
  };

  it('tries each replica once when it is unavailable, then fails', () => {
    const set = replicas('a', 'b', 'c');
    const start = new FirstAnswer(set, 0);
    assert.equal(start.another(failure(grpc.status.UNAVAILABLE), false, 1), true);
    assert.equal(set.server, 'b');
    assert.equal(start.another('ended', true, 2), true);
    assert.equal(start.another(failure(grpc.status.UNAVAILABLE), false, 3), false, 'back at a: all tried');
  });

  it('never tries again after a refusal, an answer past the deadline, or with one replica', () => {
    for (const code of [grpc.status.NOT_FOUND, grpc.status.UNAUTHENTICATED, grpc.status.DEADLINE_EXCEEDED, grpc.status.INTERNAL]) {
      assert.equal(new FirstAnswer(replicas('a', 'b'), 0).another(failure(code), false, 1), false, grpc.status[code]);
    }
    assert.equal(new FirstAnswer(replicas('a'), 0).another(failure(grpc.status.UNAVAILABLE), false, 1), false);
    assert.equal(new FirstAnswer(undefined, 0).another(failure(grpc.status.UNAVAILABLE), false, 1), false);
  });

  it('waits the other commands\' deadline in all, anew after a replica that answered and went away', () => {
    const start = new FirstAnswer(replicas('a', 'b', 'c'), 0);
    assert.equal(start.silenceMs(0), FIRST_ANSWER_MS);
    assert.equal(start.another(failure(grpc.status.UNAVAILABLE), false, 4_000), true);
    assert.equal(start.silenceMs(4_000), FIRST_ANSWER_MS - 4_000, 'a refused connection used part of it');
    assert.equal(start.another(failure(grpc.status.UNAVAILABLE), true, 6_000), true);
    assert.equal(start.silenceMs(6_000), FIRST_ANSWER_MS);
  });
});
