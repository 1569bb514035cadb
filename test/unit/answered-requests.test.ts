/** A retried `ps:kill` reaches the agent with the same request id and signals once (agent/server/answered-requests.ts). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AnsweredRequests } from '../../agent/server/answered-requests';
import { runService, type RunDeps } from '../../agent/server/run-service';
import { createLogger } from '../../lib/log';

describe('AnsweredRequests', () => {
  it('answers a remembered id until its time is up', () => {
    let now = 1_000;
    const answers = new AnsweredRequests<boolean>(10, 60_000, () => now);
    assert.equal(answers.get('req-1'), undefined);
    answers.remember('req-1', false);
    assert.equal(answers.get('req-1'), false, 'a remembered false is an answer, not a miss');
    now += 60_000;
    assert.equal(answers.get('req-1'), false);
    now += 1;
    assert.equal(answers.get('req-1'), undefined, 'forgotten after its ttl');
    assert.equal(answers.size, 0);
  });

  it('keeps only the newest `capacity` answers', () => {
    const answers = new AnsweredRequests<number>(3);
    for (let i = 1; i <= 5; i++) answers.remember(`req-${i}`, i);
    assert.equal(answers.size, 3);
    assert.deepEqual(['req-1', 'req-2', 'req-3', 'req-4', 'req-5'].map((id) => answers.get(id)), [undefined, undefined, 3, 4, 5]);
  });
});

describe('StopRun with a request id', () => {
  function service(): { stop: (req: { request_id: string }) => Promise<boolean>; kills: () => number } {
    let kills = 0;
    const deps = { agentId: 'host-a', logger: createLogger('test', 'silent'), killInstance: () => (kills += 1) > 0 } as unknown as RunDeps;
    const handlers = runService(deps);
    const stop = (req: { request_id: string }) =>
      new Promise<boolean>((resolve, reject) => {
        const call = { request: { app: 'shop', instance: 'worker.1', reason: 'ps:kill', kill: true, ...req } };
        (handlers.StopRun as unknown as (c: unknown, cb: (err: unknown, reply?: { found: boolean }) => void) => void)(call, (err, reply) =>
          err ? reject(err as Error) : resolve(reply!.found),
        );
      });
    return { stop, kills: () => kills };
  }

  it('signals once for a repeated id, again for a new one, and every time without an id', async () => {
    const { stop, kills } = service();
    assert.equal(await stop({ request_id: 'req-kill-0001' }), true);
    assert.equal(await stop({ request_id: 'req-kill-0001' }), true, 'the retry gets the first answer');
    assert.equal(kills(), 1, 'one SIGKILL for one request');
    assert.equal(await stop({ request_id: 'req-kill-0002' }), true);
    assert.equal(kills(), 2);
    await stop({ request_id: '' });
    await stop({ request_id: '' });
    assert.equal(kills(), 4, 'calls without an id (an older control plane) signal each time');
  });
});
