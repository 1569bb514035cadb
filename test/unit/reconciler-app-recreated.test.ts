/**
 * An agent that never heard of its app's destroy (its stream broke meanwhile, its lease held) is
 * given, in the snapshot of its reopened stream, the new app's instance of the same name, release,
 * code and restart token: it must replace the destroyed app's process, not keep it. A creation
 * time not said (a control plane from before it was sent) restarts nothing.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { createLogger } from '../../lib/log';
import { Reconciler } from '../../agent/reconciler';
import { assignment } from '../helpers/assignments';
import type { InstanceStatus } from '../../proto/gen/cluster/agent/InstanceStatus';
import { isGone } from '../helpers/processes';
import { reconcilerDeps } from '../helpers/reconciler-deps';
import { waitFor } from '../helpers/wait-for';
import { IDLE_LOOP } from '../helpers/idle-loop';

const logger = createLogger('recreated-test', 'silent');

describe('reconciler: an app destroyed and created again while the agent was cut off', () => {
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'recreated-test-'));
  const statuses: InstanceStatus[] = [];
  const reconciler = new Reconciler(reconcilerDeps({ cwd, processTypes: { worker: IDLE_LOOP }, ports: { from: 42400, to: 42499 }, statuses, logger }));
  after(async () => {
    await reconciler.close();
    fs.rmSync(cwd, { recursive: true, force: true });
  });

  /** The pid of the latest status of `instance` when it is running (starting or up). */
  const pidOf = (instance: string): number | undefined => {
    const s = [...statuses].reverse().find((x) => x.instance === instance);
    return s && (s.state === 'up' || s.state === 'starting') ? (s.pid ?? undefined) : undefined;
  };
  const OLD_APP = 1_700_000_000_000;
  const NEW_APP = 1_700_000_600_000;

  it('replaces the destroyed app\'s process by the new app\'s, alike in all but the creation time', async () => {
    reconciler.apply({ snapshot: true, upserts: [assignment({ release: 2, app_created_at_ms: OLD_APP })], removes: [] });
    await waitFor('worker.1 of the old app running', () => pidOf('worker.1') !== undefined, 10_000);
    const old = pidOf('worker.1')!;

    reconciler.apply({ snapshot: true, upserts: [assignment({ release: 2, app_created_at_ms: NEW_APP })], removes: [] });
    await waitFor('worker.1 of the new app running in another process', () => (pidOf('worker.1') ?? old) !== old, 10_000);
    await waitFor('the old app\'s process gone', () => isGone(old), 10_000);
    assert.ok(
      statuses.some((s) => s.instance === 'worker.1' && s.pid === old && s.reason?.includes('the app was destroyed and created again')),
      'the old process was stopped for that reason',
    );
  });

  it('restarts nothing for an assignment that does not say when its app was created', async () => {
    const running = pidOf('worker.1')!;
    // worker.2 starts in the same snapshot: once it runs, worker.1's turn has been taken too.
    reconciler.apply({ snapshot: true, upserts: [assignment({ release: 2, app_created_at_ms: 0 }), assignment({ instance: 'worker.2', release: 2 })], removes: [] });
    await waitFor('worker.2 running', () => pidOf('worker.2') !== undefined, 10_000);
    assert.equal(pidOf('worker.1'), running);
    assert.ok(!isGone(running), 'worker.1 kept its process');
  });
});
