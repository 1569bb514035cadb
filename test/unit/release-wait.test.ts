/** `deploy --wait`, `config:set --wait`, `rollback --wait` (cli/wait-formation.ts): what counts as a failed rollout. */
import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import { waitForFormation } from '../../cli/wait-formation';
import type { ClusterApiClient } from '../../proto/gen/cluster/api/ClusterApi';
import type { InstanceInfo__Output } from '../../proto/gen/cluster/api/InstanceInfo';
import type { PsReply__Output } from '../../proto/gen/cluster/api/PsReply';

const web = (n: number, state: string, release: number, restarts: number, reason = '') =>
  ({ name: `web.${n}`, type: 'web', state, release, restarts, reason, host: 'host-a' }) as InstanceInfo__Output;

/** A control plane whose `ps` answers each poll with the next of `polls` (the last one again after that). */
function fakeApi(polls: InstanceInfo__Output[][], webCount = 2): ClusterApiClient {
  let poll = 0;
  const ps = (instances: InstanceInfo__Output[]): PsReply__Output => ({
    app: 'site',
    instances,
    formation: [{ type: 'web', count: webCount, relative: false }],
    stale: null,
    process_types: ['web'],
    restart_tokens: null,
  });
  return {
    ListReleases: (_req: unknown, _opts: unknown, cb: (err: null, res: unknown) => void) => cb(null, { releases: [{ version: 2, phase: '', phase_reason: '' }] }),
    Ps: (_req: unknown, _opts: unknown, cb: (err: null, res: unknown) => void) => cb(null, ps(polls[Math.min(poll++, polls.length - 1)]!)),
  } as unknown as ClusterApiClient;
}

async function quietly<T>(run: () => Promise<T>): Promise<T> {
  const write = mock.method(process.stderr, 'write', () => true);
  try {
    return await run();
  } finally {
    write.mock.restore();
  }
}

describe('waiting for a release to roll out', () => {
  it('a release that fixes a crash loop is waited for: the old release crashing is what it replaces', async () => {
    const looping = 'exited with status 2 before it was up';
    const api = fakeApi([
      [web(1, 'crashed', 1, 3, looping), web(2, 'crashed', 1, 3, looping)],
      [web(1, 'starting', 2, 0), web(2, 'crashed', 1, 3, looping)],
      [web(1, 'up', 2, 0), web(2, 'up', 2, 0)],
    ]);
    await quietly(() => waitForFormation(api, 'site', undefined, 10_000, { release: 2 }));
  });

  it('a crash of the new release fails the wait', async () => {
    const api = fakeApi([[web(1, 'crashed', 2, 1, 'exited with status 3'), web(2, 'up', 1, 0)]]);
    await assert.rejects(quietly(() => waitForFormation(api, 'site', undefined, 10_000, { release: 2 })), /web\.1 failed on v2 \(host-a\): exited with status 3/);
  });

  it('without a release (scale --wait) a crash loop fails the wait', async () => {
    const api = fakeApi([[web(1, 'crashed', 1, 3, 'exited with status 2'), web(2, 'up', 1, 0)]]);
    await assert.rejects(quietly(() => waitForFormation(api, 'site', undefined, 10_000)), /web\.1 is crash-looping on host-a: exited with status 2/);
  });

  it('a release made meanwhile that runs on an instance ends the wait: ours never finishes rolling', async () => {
    const api = fakeApi([
      [web(1, 'up', 2, 0), web(2, 'up', 1, 0)],
      [web(1, 'up', 3, 0), web(2, 'up', 1, 0)],
    ]);
    await assert.rejects(quietly(() => waitForFormation(api, 'site', undefined, 10_000, { release: 2 })), /v2 will not finish rolling out: v3 was made meanwhile and rolls out instead/);
  });

  it('a crash loop of instances a scale-down is stopping fails nothing (scale web=0 --wait)', async () => {
    const looping = 'exited with status 2 before it was up';
    const api = fakeApi([[web(1, 'crashed', 1, 3, looping), web(2, 'crashed', 1, 4, looping)], [web(2, 'crashed', 1, 4, looping)], []], 0);
    await quietly(() => waitForFormation(api, 'site', undefined, 10_000));
  });

  it('scaled down to fewer, the crash loop of an instance kept still fails the wait', async () => {
    const looping = 'exited with status 2 before it was up';
    const api = fakeApi([[web(1, 'crashed', 1, 3, looping), web(2, 'crashed', 1, 4, looping)]], 1);
    await assert.rejects(quietly(() => waitForFormation(api, 'site', undefined, 10_000)), /web\.1 is crash-looping on host-a/);
  });
});
