/**
 * The agent daemon: one per server. Joins the control plane, follows its assignments,
 * and supervises the processes they name.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Logger } from '../lib/log';
import { ControlPlaneLink, type AgentIdentity } from './link/control-plane-link';
import { AssignmentStream } from './link/assignment-stream';
import { StatusReporter } from './link/status-reporter';
import { ReleaseCache } from './releases/release-cache';
import { Reconciler } from './reconciler';
import { OrphanGuard, killLeftovers } from './supervisor/orphan-guard';
import { PortAllocator, type PortRange } from './supervisor/ports';
import type { InstanceStream } from './supervisor/instance';

export interface AgentOptions {
  server: string;
  dataDir: string;
  identity: AgentIdentity;
  ports: PortRange;
  /** SIGTERM → SIGKILL for process types without a grace period of their own. */
  stopGraceMs?: number;
  logger: Logger;
  /** Receives every output line of every instance (the log store hooks in here). */
  onLine?: (app: string, instance: string, stream: InstanceStream, line: string) => void;
}

export type AgentState = 'running' | 'stopping' | 'stopped';

export class Agent {
  state: AgentState = 'running';
  private closing?: Promise<void>;

  private constructor(
    private readonly link: ControlPlaneLink,
    private readonly stream: AssignmentStream,
    private readonly reporter: StatusReporter,
    private readonly reconciler: Reconciler,
    private readonly guard: OrphanGuard,
    private readonly logger: Logger,
  ) {}

  static async start(opts: AgentOptions): Promise<Agent> {
    const logger = opts.logger.child({ agent: opts.identity.id });
    fs.mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
    const groupsFile = path.join(opts.dataDir, 'process-groups.json');
    // Processes of a previous run that died without cleaning up would run twice.
    await killLeftovers(groupsFile, logger);
    const guard = OrphanGuard.start(logger, { stateFile: groupsFile });

    const link = new ControlPlaneLink(opts.server, opts.identity, opts.dataDir, logger);
    const reporter = new StatusReporter(link.client, link, opts.identity.id, logger);
    const reconciler = new Reconciler({
      agentId: opts.identity.id,
      defaultGraceMs: opts.stopGraceMs ?? 30_000,
      ports: new PortAllocator(opts.ports),
      releases: new ReleaseCache(opts.dataDir, link.client, logger),
      logger,
      report: (status) => reporter.report(status),
      onLine: opts.onLine ?? (() => undefined),
      onSpawn: (pid) => guard.track(pid),
      onExit: (pid) => guard.untrack(pid),
    });
    const stream = new AssignmentStream(link.client, opts.identity.id, (batch) => reconciler.apply(batch), logger);
    link.start();
    stream.start();
    logger.info({ server: opts.server, dataDir: opts.dataDir, ports: opts.ports }, 'agent started');
    return new Agent(link, stream, reporter, reconciler, guard, logger);
  }

  /** Stops every instance, then disconnects; idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.state = 'stopping';
      this.stream.close();
      await this.reconciler.close().catch((err: unknown) => this.logger.warn({ err }, 'stopping instances failed'));
      this.reporter.close();
      this.link.close();
      await this.guard.close().catch((err: unknown) => this.logger.warn({ err }, 'closing the orphan guard failed'));
      this.state = 'stopped';
      this.logger.info('agent stopped');
    })();
    return this.closing;
  }
}
