/**
 * An instance whose start failed (here: no free port) is reported `crashed` and retried; once
 * it is no longer assigned, its status must go too. It once stayed under the agent's lease for
 * as long as the agent ran: `ps` listed it `stopping` for good and `--wait` never returned.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { createLogger } from '../../lib/log';
import { Reconciler } from '../../agent/reconciler';
import { PortAllocator } from '../../agent/supervisor/ports';
import { assignment } from '../helpers/assignments';
import type { InstanceStatus } from '../../proto/gen/cluster/agent/InstanceStatus';
import { isGone } from '../helpers/processes';
import { reconcilerDeps } from '../helpers/reconciler-deps';
import { waitFor } from '../helpers/wait-for';
import { IDLE_LOOP } from '../helpers/idle-loop';

const logger = createLogger('failed-start-test', 'silent');

describe('reconciler: an instance that could not start', () => {
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'failed-start-test-'));
  const statuses: InstanceStatus[] = [];
  // One port: the second instance cannot start. The port is not probed: 42450 lies in the
  // ephemeral range, and a connection elsewhere on the machine using it as its source port
  // once kept the first instance from starting too.
  const ports = new PortAllocator({ from: 42450, to: 42450 }, '0.0.0.0', async () => true);
  const reconciler = new Reconciler(
    reconcilerDeps({ cwd, processTypes: { worker: IDLE_LOOP }, ports: { from: 42450, to: 42450 }, statuses, logger, overrides: { ports } }),
  );
  after(async () => {
    await reconciler.close();
    fs.rmSync(cwd, { recursive: true, force: true });
  });
  const latest = (instance: string) => statuses.filter((s) => s.instance === instance).at(-1);

  it('reports it gone as soon as it is no longer assigned', async () => {
    reconciler.apply({ snapshot: true, upserts: [assignment({ instance: 'worker.1' }), assignment({ instance: 'worker.2' })], removes: [] });
    await waitFor('worker.1 up', () => latest('worker.1')?.state === 'up', 10_000);
    await waitFor('worker.2 crashed', () => latest('worker.2')?.state === 'crashed', 10_000);
    assert.match(latest('worker.2')!.reason!, /could not start: no free port/);
    reconciler.apply({ snapshot: false, upserts: [], removes: [{ app: 'shop', instance: 'worker.2' }] });
    // At once: not when its retry (2 s) comes.
    await waitFor('worker.2 gone', () => latest('worker.2')?.state === 'gone', 1_000);
    assert.equal(reconciler.size, 1);
    const pid = latest('worker.1')!.pid!;
    await reconciler.close();
    await waitFor('worker.1 stopped', () => isGone(pid), 10_000);
  });
});
