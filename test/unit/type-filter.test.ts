import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { unknownTypeWarning } from '../../control-plane/logs/type-filter';
import type { AppRecord, FormationRecord, ReleaseRecord } from '../../control-plane/records';
import type { LogsRequest__Output } from '../../proto/gen/cluster/logs/LogsRequest';

const app = { name: 'shop', release: 2, deployed: 2 } as AppRecord;
const store = {
  getRelease: async () => ({ processTypes: { worker: 'w', constructor: 'c' } }) as unknown as ReleaseRecord,
  getFormation: async () => ({ counts: { worker: 2 }, restartTokens: {} }) as FormationRecord,
};
const warning = (filter: Partial<LogsRequest__Output>) => unknownTypeWarning(store, { app: 'shop', type: '', instance: '', ...filter } as LogsRequest__Output, app);

describe('cluster logs: a type or instance filter that can show nothing', () => {
  it('warns for a type the app does not have, and for an instance beyond its type\'s count', async () => {
    assert.equal(await warning({ type: 'wroker' }), '`wroker` is not a process type of `shop` (its types: constructor, worker); only lines it left under an earlier release can show');
    assert.equal(await warning({ instance: 'worker.3' }), '`worker.3` is beyond `shop`\'s formation (worker=2); only lines it left before a scale-down can show');
    assert.equal(await warning({ instance: 'constructor.1' }), '`constructor.1` is beyond `shop`\'s formation (constructor=0); only lines it left before a scale-down can show');
  });

  it('says nothing for a type or instance the formation has, nor for one-offs and the release phase', async () => {
    for (const filter of [{ type: 'worker' }, { instance: 'worker.2' }, { type: 'run' }, { instance: 'run.7' }, { instance: 'release.2' }]) {
      assert.equal(await warning(filter), undefined, JSON.stringify(filter));
    }
  });
});
