/** Scheduler: spec changes restart instances in place, and assignments name their release rather than carry it. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { schedule } from '../../control-plane/scheduler/schedule';
import type { AppView } from '../../control-plane/scheduler/types';
import { agents3, app, converged, names } from '../helpers/scheduler-fixtures';

describe('scheduler: spec changes restart in place', () => {
  const shop = app('shop', { web: 2, worker: 3 });
  const base = { apps: [shop], agents: agents3 };
  const running = converged(base);
  const where = new Map(running.map((a) => [a.instance, a.agentId]));

  const cases: Array<{ name: string; change: Partial<AppView>; restarted: string[] }> = [
    {
      name: 'a new release re-puts every instance',
      change: { release: { ...shop.release!, version: 2, slug: 'sha-2' } },
      restarted: ['web.1', 'web.2', 'worker.1', 'worker.2', 'worker.3'],
    },
    {
      name: 'a config change (a new release, same code) re-puts every instance',
      change: { release: { ...shop.release!, version: 2, env: { NODE_ENV: 'production', DEBUG: '1' } } },
      restarted: ['web.1', 'web.2', 'worker.1', 'worker.2', 'worker.3'],
    },
    {
      name: 'an app restart token re-puts every instance',
      change: { restartTokens: { '*': 't1' } },
      restarted: ['web.1', 'web.2', 'worker.1', 'worker.2', 'worker.3'],
    },
    { name: 'a type restart token re-puts that type', change: { restartTokens: { worker: 't1' } }, restarted: ['worker.1', 'worker.2', 'worker.3'] },
    { name: 'an instance restart token re-puts that instance', change: { restartTokens: { 'worker.2': 't1' } }, restarted: ['worker.2'] },
    { name: 'a grace period change re-puts that type', change: { graceMs: { web: 1 } }, restarted: ['web.1', 'web.2'] },
    // Commands and config change only with a new release: the release number stands for them.
    { name: 'the same release with other commands or config re-puts nothing', change: { release: { ...shop.release!, processTypes: { ...shop.release!.processTypes, web: 'node web2.js' }, env: { DEBUG: '1' } } }, restarted: [] },
  ];

  for (const c of cases) {
    it(c.name, () => {
      const plan = schedule({ ...base, apps: [{ ...shop, ...c.change }], assignments: running });
      assert.deepEqual(names(plan.put), c.restarted);
      for (const p of plan.put) assert.equal(p.agentId, where.get(p.instance), `${p.instance} stays on its agent`);
      assert.deepEqual(plan.remove, []);
    });
  }

  it('distinguishes restart tokens whose plain `/`-join would collide', () => {
    const a = schedule({ ...base, apps: [{ ...shop, restartTokens: { '*': 'a/', worker: '' } }], assignments: [] });
    const b = schedule({ ...base, apps: [{ ...shop, restartTokens: { '*': 'a', worker: '/' } }], assignments: [] });
    assert.notEqual(a.put.find((p) => p.instance === 'worker.1')!.restartToken, b.put.find((p) => p.instance === 'worker.1')!.restartToken);
  });
});

describe('scheduler: assignments stay small', () => {
  it('name their release instead of carrying its command and config, however large the config', () => {
    const big = { ...app('shop', { worker: 40 }) };
    big.release = { ...big.release!, env: { BLOB: 'x'.repeat(120_000) } };
    const plan = schedule({ apps: [big], agents: agents3, assignments: [] });
    assert.equal(plan.put.length, 40);
    for (const p of plan.put) {
      assert.ok(!('env' in p) && !('command' in p), 'no copy of the config or command');
      assert.ok(JSON.stringify(p).length < 300, `assignment of ${JSON.stringify(p).length} bytes`);
    }
  });
});
