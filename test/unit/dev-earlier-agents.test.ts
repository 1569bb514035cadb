/** cluster dev forgets the agents of an earlier run with more of them (cli/dev/earlier-agents.ts). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ClusterApiClient } from '../../proto/gen/cluster/api/ClusterApi';
import { forgetEarlierAgents } from '../../cli/dev/earlier-agents';

type Listing = Array<{ id: string; state: string }> | 'fail';

/** An API whose ListAgents answers `listings` in turn (the last one again and again) and records RemoveAgent. */
function fakeApi(listings: Listing[]): { api: ClusterApiClient; removed: string[]; looks: () => number } {
  const removed: string[] = [];
  let looks = 0;
  const api = {
    ListAgents(_req: unknown, _opts: unknown, cb: (err: Error | null, res?: unknown) => void) {
      const listing = listings[Math.min(looks++, listings.length - 1)]!;
      setImmediate(() => (listing === 'fail' ? cb(Object.assign(new Error('unavailable'), { code: 14, details: 'unavailable', metadata: {} })) : cb(null, { agents: listing.filter((a) => !removed.includes(a.id)) })));
    },
    RemoveAgent(req: { id: string }, _opts: unknown, cb: (err: Error | null, res?: unknown) => void) {
      removed.push(req.id);
      setImmediate(() => cb(null, {}));
    },
  } as unknown as ClusterApiClient;
  return { api, removed, looks: () => looks };
}

const FAST = { pollMs: 5, settleMs: 200, giveUpMs: 5_000 };
const mine = [{ id: 'agent-1', state: 'ready' }, { id: 'agent-2', state: 'ready' }];

describe('cluster dev: agents of an earlier run', () => {
  it('waits out an earlier agent still listed ready (its lease not yet run out), and forgets it once down', async () => {
    const { api, removed } = fakeApi([
      [...mine, { id: 'agent-3', state: 'ready' }],
      [...mine, { id: 'agent-3', state: 'ready' }],
      [...mine, { id: 'agent-3', state: 'unreachable' }],
      'fail',
      [...mine, { id: 'agent-3', state: 'down' }],
    ]);
    const said: string[] = [];
    await forgetEarlierAgents(api, 2, (line) => said.push(line), FAST);
    assert.deepEqual(removed, ['agent-3']);
    assert.deepEqual(said, ['Forgot agent-3, an agent of an earlier run of this dev cluster.']);
  });

  it('leaves alone an agent beyond the count that stays ready (started by hand), and stops looking', async () => {
    const { api, removed, looks } = fakeApi([[...mine, { id: 'agent-4', state: 'ready' }, { id: 'agent-3', state: 'down' }]]);
    const started = Date.now();
    await forgetEarlierAgents(api, 2, () => undefined, FAST);
    assert.deepEqual(removed, ['agent-3']);
    assert.ok(Date.now() - started >= FAST.settleMs && Date.now() - started < FAST.giveUpMs, `stopped after ${Date.now() - started} ms`);
    assert.ok(looks() > 1);
  });

  it('stops at once when no agent beyond the count is listed, and never touches its own', async () => {
    const { api, removed, looks } = fakeApi([mine]);
    await forgetEarlierAgents(api, 2, () => undefined, FAST);
    assert.deepEqual(removed, []);
    assert.equal(looks(), 1);
  });
});
