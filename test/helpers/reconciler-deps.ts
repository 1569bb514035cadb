/** For reconciler unit tests: the dependencies of a Reconciler with real processes and no agent around it. */
import * as path from 'node:path';
import type { ReconcilerDeps } from '../../agent/reconciler-deps';
import type { ReleaseCache } from '../../agent/releases/release-cache';
import { OutputFifoMaker } from '../../agent/supervisor/output-fifos';
import { PortAllocator } from '../../agent/supervisor/ports';
import type { Logger } from '../../lib/log';
import type { InstanceStatus } from '../../proto/gen/cluster/agent/InstanceStatus';

/**
 * Every release unpacks to `cwd` with `processTypes`; statuses are pushed onto `statuses`;
 * `overrides` (a pacer, say) win.
 */
export function reconcilerDeps(opts: {
  cwd: string;
  processTypes: Record<string, string>;
  ports: { from: number; to: number };
  statuses: InstanceStatus[];
  logger: Logger;
  overrides?: Partial<ReconcilerDeps>;
}): ReconcilerDeps {
  return {
    agentId: 'a1',
    agentDir: '/nonexistent/a1',
    defaultGraceMs: 2_000,
    ports: new PortAllocator(opts.ports),
    releases: {
      ensure: async () => opts.cwd,
      configs: {
        get: async () => ({ slug: 'a'.repeat(64), processTypes: opts.processTypes, env: {} }),
        retain: () => undefined,
      },
    } as unknown as ReleaseCache,
    logger: opts.logger,
    report: (s) => opts.statuses.push(s),
    onLine: () => undefined,
    onSpawn: () => undefined,
    onExit: () => undefined,
    fifos: new OutputFifoMaker(path.join(opts.cwd, 'fifos')),
    record: () => undefined,
    ...opts.overrides,
  };
}
