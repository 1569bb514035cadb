/**
 * control-plane/leader/compactor.ts when etcd's revision goes back (its data restored from a
 * backup): the marks and the compacted revision are the old data's, so it starts over instead of
 * compacting nothing until the new revisions pass the old ones. The etcd calls are stubbed: what
 * is checked is which revision the compactor asks for; test/integration/compactor.test.ts runs it
 * against a real etcd.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Etcd3 } from 'etcd3';
import { Compactor } from '../../control-plane/leader/compactor';
import { createLogger } from '../../lib/log';

/** An etcd that answers `revision` to every read and records each compaction asked for. */
function etcdAt(state: { revision: number; compactions: number[] }): Etcd3 {
  return {
    kv: {
      range: async () => ({ header: { revision: String(state.revision) }, kvs: [], count: '0' }),
      compact: async (req: { revision: string }) => {
        state.compactions.push(Number(req.revision));
        return {};
      },
    },
  } as unknown as Etcd3;
}

describe('Compactor after etcd was restored from a backup', () => {
  it('starts over from the restored revisions', async () => {
    const state = { revision: 1_000, compactions: [] as number[] };
    let now = 0;
    const compactor = new Compactor(etcdAt(state), { historyMs: 60_000, probeKey: 'probe' }, createLogger('test', 'silent'), () => now);
    await compactor.pass(); // 1,000 noted at 0 s
    state.revision = 2_000;
    now = 61_000;
    await compactor.pass(); // compacts to 1,000; 2,000 noted
    assert.deepEqual(state.compactions, [1_000]);

    // Restored: etcd is back at revision 300, below everything noted and compacted.
    state.revision = 300;
    now = 70_000;
    await compactor.pass();
    state.revision = 400;
    now = 131_000;
    await compactor.pass(); // the restored data's own mark of 70 s is old enough
    assert.deepEqual(state.compactions, [1_000, 300], 'the restored history is compacted, not held back by the old marks');
  });
});
