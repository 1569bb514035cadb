/** A watch response for a watcher etcd3 no longer has is dropped, not thrown (control-plane/etcd/stray-watch-responses.ts). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WatchManager } from 'etcd3/lib/watch';
import { dropStrayWatchResponses } from '../../control-plane/etcd/stray-watch-responses';

type Handle = (this: unknown, res: { watch_id: string; canceled: boolean }) => void;
const handleResponse = () => (WatchManager.prototype as unknown as { handleResponse: Handle }).handleResponse;

describe('stray watch responses', () => {
  it('etcd3 alone throws for a response whose watcher is gone; patched, it is dropped, and a live watcher still gets its response', () => {
    const manager = (delivered: string[]) => ({
      watchers: [{ id: '1' }],
      backoff: undefined,
      initialBackoff: { next: () => undefined },
      handleUpdateResponse: (w: { id: string }) => delivered.push(w.id),
    });
    const before: string[] = [];
    assert.throws(() => handleResponse().call(manager(before), { watch_id: '7', canceled: false }), /Failed to find watcher/);

    assert.equal(dropStrayWatchResponses(), true);
    assert.equal(dropStrayWatchResponses(), true, 'applied once');
    const after: string[] = [];
    const m = manager(after);
    handleResponse().call(m, { watch_id: '7', canceled: false });
    assert.deepEqual(after, [], 'the stray response reached no one');
    handleResponse().call(m, { watch_id: '1', canceled: false });
    assert.deepEqual(after, ['1'], 'a live watcher still gets its response');
  });
});
