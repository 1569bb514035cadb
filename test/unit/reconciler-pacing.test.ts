import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { createLogger } from '../../lib/log';
import { Reconciler } from '../../agent/reconciler';
import { SpawnPacer } from '../../agent/spawn-pacer';
import { assignment } from '../helpers/assignments';
import type { InstanceStatus } from '../../proto/gen/cluster/agent/InstanceStatus';
import { isGone } from '../helpers/processes';
import { reconcilerDeps } from '../helpers/reconciler-deps';
import { waitFor } from '../helpers/wait-for';
import { IDLE_LOOP } from '../helpers/idle-loop';

const logger = createLogger('pacing-test', 'silent');

/** A pacer that counts the starts it runs and how many turns they took. */
class CountingPacer extends SpawnPacer {
  runs = 0;
  override run<T>(fn: () => T): Promise<T> {
    return super.run(() => {
      this.runs++;
      return fn();
    });
  }
}

describe('reconciler: starts go through the spawn pacer', () => {
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'pacing-test-'));
  const statuses: InstanceStatus[] = [];
  const pacer = new CountingPacer(1);
  const reconciler = new Reconciler(reconcilerDeps({ cwd, processTypes: { worker: IDLE_LOOP }, ports: { from: 42300, to: 42399 }, statuses, logger, overrides: { pacer } }));
  after(async () => {
    await reconciler.close();
    fs.rmSync(cwd, { recursive: true, force: true });
  });

  const spec = (instance: string) => assignment({ instance });
  const up = () => {
    const latest = new Map<string, InstanceStatus>();
    for (const s of statuses) latest.set(s.instance!, s);
    return [...latest.values()].filter((s) => s.state === 'up');
  };

  it('starts a whole snapshot, one pacer turn per start, and skips a start whose assignment went away while it waited', async () => {
    const names = Array.from({ length: 12 }, (_, i) => `worker.${i + 1}`);
    reconciler.apply({ snapshot: true, upserts: names.map(spec), removes: [] });
    // Removed before its turn came: never spawned.
    reconciler.apply({ snapshot: false, upserts: [], removes: [{ app: 'shop', instance: 'worker.12' }] });
    await waitFor('11 instances up', () => up().length === 11, 10_000);
    assert.equal(reconciler.size, 11);
    assert.ok(!up().some((s) => s.instance === 'worker.12'), 'worker.12 never started');
    // worker.12 reached its turn too (its removal came while it fetched the release) and was dropped then.
    await waitFor('the pacer to be idle', () => pacer.waiting === 0, 5_000);
    assert.equal(pacer.runs, 12, 'every start went through the pacer');
    assert.equal(reconciler.size, 11);
    const pids = up().map((s) => s.pid!);
    await reconciler.close();
    await waitFor('every process stopped', () => pids.every(isGone), 10_000);
  });
});
