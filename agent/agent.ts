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
import { DisconnectGuard } from './disconnect-guard';
import { OrphanGuard, killLeftovers } from './supervisor/orphan-guard';
import { PortAllocator, type PortRange } from './supervisor/ports';
import { LogStore } from './logs/log-store';
import { startAgentServer, type AgentServer } from './server/agent-server';
import { CertificateRenewer } from './tls/renewer';
import { StaticCertificateProvider, type TlsMaterial } from '../lib/tls';
import { parseServerList } from '../lib/server-list';
import { checkReplicas } from './link/replica-check';

export interface AgentOptions {
  /** The control-plane replicas: HOST:PORT[,HOST:PORT…]. */
  server: string;
  dataDir: string;
  /** Where the agent serves logs (host:port; port 0 picks one). */
  listen: string;
  /**
   * The address the control plane dials; default: the bound listen address, or for a wildcard
   * listen address (0.0.0.0, ::) the IP this agent reaches the control plane from.
   */
  advertise?: string;
  identity: Omit<AgentIdentity, 'address'>;
  ports: PortRange;
  /** SIGTERM → SIGKILL for process types without a grace period of their own. */
  stopGraceMs?: number;
  logger: Logger;
  /** The agent's certificate (after `cluster agent join`): everything goes over mutual TLS. */
  tls?: TlsMaterial;
  /** Log store bounds (bytes on disk per instance and in all). */
  logs?: { maxBytesPerInstance?: number; maxBytesTotal?: number };
  /**
   * How long instances keep running while no control plane is reachable; then the agent stops
   * them until it hears from one again (disconnect-guard.ts). 0 (default): keep them running.
   */
  disconnectedGraceMs?: number;
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
    private readonly disconnect: DisconnectGuard,
    private readonly guard: OrphanGuard,
    private readonly server: AgentServer,
    private readonly logs: LogStore,
    private readonly logger: Logger,
    private readonly renewer?: CertificateRenewer,
  ) {}

  static async start(opts: AgentOptions): Promise<Agent> {
    const logger = opts.logger.child({ agent: opts.identity.id });
    fs.mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
    // Replicas of another cluster (another CA) are refused before anything runs.
    const clusterId = await checkReplicas(parseServerList(opts.server), opts.tls, logger);
    const groupsFile = path.join(opts.dataDir, 'process-groups.json');
    // Processes of a previous run that died without cleaning up would run twice.
    await killLeftovers(groupsFile, logger);
    const logs = LogStore.open({ dir: path.join(opts.dataDir, 'logs'), logger, ...opts.logs });
    const guard = OrphanGuard.start(logger, { stateFile: groupsFile });
    // The link is needed by the release cache and the reporter; its address is set once the server is bound.
    const identity = { ...opts.identity, address: opts.advertise ?? '' };
    const provider = opts.tls && new StaticCertificateProvider(opts.tls);
    const link = new ControlPlaneLink(opts.server, identity, opts.dataDir, () => logs.apps(), logger, provider, clusterId);
    const reporter = new StatusReporter(link.client, link, opts.identity.id, logger);
    const ports = new PortAllocator(opts.ports);
    const releases = new ReleaseCache(opts.dataDir, link.client, logger);
    const server = await startAgentServer(opts.listen, logs, {
      agentId: opts.identity.id,
      releases,
      ports,
      logs,
      report: (status) => reporter.report(status),
      track: (pgid) => guard.track(pgid),
      untrack: (pgid) => guard.untrack(pgid),
      logger,
    }, provider).catch(async (err: unknown) => {
      link.close();
      await Promise.allSettled([logs.close(), guard.close()]);
      throw err;
    });
    // A wildcard listen address names no host: the control plane records the IP we call it from.
    const wildcard = /^(0\.0\.0\.0|\[::\]|::):\d+$/.test(server.address);
    const address = opts.advertise ?? (wildcard ? '' : server.address);
    identity.address = address;
    identity.listenPort = Number(/:(\d+)$/.exec(server.address)?.[1] ?? 0);
    const reconciler = new Reconciler({
      agentId: opts.identity.id,
      defaultGraceMs: opts.stopGraceMs ?? 30_000,
      ports,
      releases,
      logger,
      report: (status) => reporter.report(status),
      onLine: (app, instance, stream, line, cut) => logs.append(app, instance, stream, line, cut),
      onSpawn: (pid) => guard.track(pid),
      onExit: (pid) => guard.untrack(pid),
    });
    const stream = new AssignmentStream(link.client, opts.identity.id, (batch) => reconciler.apply(batch), logger);
    link.on('switched', () => stream.resubscribe());
    const renewer = provider && new CertificateRenewer(opts.tls!, provider, { server: () => link.currentServer, agentId: opts.identity.id, dataDir: opts.dataDir, logger });
    renewer?.start();
    // The link emits `unreachable` (with when the first call failed) and `reachable`.
    const disconnect = new DisconnectGuard(opts.disconnectedGraceMs ?? 0, link, reconciler, logger);
    link.start();
    stream.start();
    logger.info(
      { server: opts.server, address: address || `<the IP it reaches the control plane from>:${identity.listenPort}`, dataDir: opts.dataDir, ports: opts.ports, disconnectedGraceMs: opts.disconnectedGraceMs ?? 0 },
      'agent started',
    );
    return new Agent(link, stream, reporter, reconciler, disconnect, guard, server, logs, logger, renewer);
  }

  /** Stops every instance, then disconnects; idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.state = 'stopping';
      this.disconnect.close();
      this.stream.close();
      this.renewer?.close();
      await this.reconciler.close().catch((err: unknown) => this.logger.warn({ err }, 'stopping instances failed'));
      this.reporter.close();
      this.link.close();
      await this.server.close();
      await this.logs.close().catch((err: unknown) => this.logger.warn({ err }, 'flushing logs failed'));
      await this.guard.close().catch((err: unknown) => this.logger.warn({ err }, 'closing the orphan guard failed'));
      this.state = 'stopped';
      this.logger.info('agent stopped');
    })();
    return this.closing;
  }
}
