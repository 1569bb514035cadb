/**
 * One control-plane replica: serves the CLI API and the agent API, and schedules while
 * it holds leadership. Everything it knows is in etcd; it can be killed at any instant.
 */
import * as os from 'node:os';
import * as grpc from '@grpc/grpc-js';
import type { Etcd3 } from 'etcd3';
import { createEtcdClient } from './etcd/client';
import { EtcdHealth } from './etcd/health';
import { checkOneEtcdCluster } from './etcd/one-cluster';
import type { Logger } from '../lib/log';
import { DEFAULT_ETCD_HISTORY_SECONDS, DEFAULT_RESTART_HOLD_SECONDS, isLoopback, type ControlPlaneOptions } from './control-plane-options';
import { agentProto, apiProto, bootstrapProto, CHANNEL_OPTIONS, slugsProto } from '../proto/load';
import { Keys } from './keys';
import { AppStore } from './state/app-store';
import { ClusterView } from './state/cluster-view';
import { SlugReplication } from './slugs/slug-replication';
import { LeaseKeeper } from './etcd/lease-keeper';
import { ReplicaRegistry } from './replicas/registry';
import { advertisedAddress } from './replicas/advertise';
import { listReplicasHandler } from './replicas/list-replicas';
import { LeaderElection } from './leader/election';
import { SchedulerLoop } from './leader/scheduler-loop';
import { Compactor } from './leader/compactor';
import { AssignmentHub } from './agents/assignment-hub';
import { passEncoded } from './agents/assignment-wire';
import { agentService } from './agents/agent-service';
import type { ApiContext } from './rpc/context';
import { appHandlers } from './api/apps';
import { deployHandler } from './api/deploy';
import { processHandlers } from './api/processes';
import { stopInstanceHandler } from './api/stop-instance';
import { agentHandlers } from './api/agents';
import { placementHandlers } from './api/placement';
import { AgentDialer } from './agents/agent-dialer';
import { logsHandler } from './logs/logs-handler';
import { runRelay } from './run/run-relay';
import { scheduleHandlers } from './api/schedules';
import { JobStore } from './cron/job-store';
import { CronLoop } from './cron/cron-loop';
import { ReleasePhaseLoop } from './release-phase/release-phase-loop';
import { tokenHandlers } from './api/tokens';
import { setUpSecurity } from './security/security';
import { agentsForThemselves, operatorsOnly } from './security/authz';
import { bootstrapService } from './security/bootstrap-service';
import { writeLocalOperatorCredential } from './security/local-operator';
import { controlPlaneOnly, guard } from '../lib/authz';
import { serverCredentials } from '../lib/tls';
import type { ClusterApiHandlers } from '../proto/gen/cluster/api/ClusterApi';
import { dashboardHandlers, type DashboardEndpoint } from './api/dashboard';
import { DashboardSessions } from './http/sessions';
import { ChangeFeed } from './http/change-feed';
import { DashboardServer, splitHostPort } from './http/dashboard-server';
import { StaticAssets } from './http/static-assets';
import { baseUrl, dashboardCertificate, linkHost } from './http/certificate';
import type { ControlPlaneMetrics } from './metrics/control-plane-metrics';
import { metricsInterceptor } from './metrics/grpc-instrument';
import { startMetricsServer, type MetricsServer } from '../lib/metrics-server';

/** The longest close() takes (SIGTERM must end a replica within 5 s). */
const CLOSE_BUDGET_MS = 3_500;
/** The longest one step of close() may take. */
const STEP_BUDGET_MS = 1_500;

/** Resolves with `work`, or rejects once `ms` have passed (the work carries on unobserved). */
async function within(ms: number, work: Promise<void> | void, what: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms; going on without it`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export class ControlPlane {
  private closing?: Promise<void>;

  private constructor(
    readonly address: string,
    /** What clients are told to dial (the replica set). */
    readonly advertised: string,
    readonly replicas: ReplicaRegistry,
    private readonly server: grpc.Server,
    private readonly client: Etcd3,
    private readonly view: ClusterView,
    private readonly election: LeaderElection,
    private readonly loop: SchedulerLoop,
    private readonly cron: CronLoop,
    private readonly releasePhase: ReleasePhaseLoop,
    private readonly compactor: Compactor,
    private readonly leases: LeaseKeeper,
    private readonly dialer: AgentDialer,
    private readonly health: EtcdHealth,
    private readonly logger: Logger,
    /** Slug storage, replication between replicas and slug GC. */
    readonly slugs: SlugReplication,
    /** The API's context (the HTTP listener serves from it: psWithUsage, controlPlaneMetrics). */
    readonly ctx: ApiContext,
    private readonly dashboard?: { server: DashboardServer; feed: ChangeFeed; url: string },
    /** Where `--metrics` serves, with its scheme. */
    readonly metricsServer?: MetricsServer,
  ) {}

  /** The dashboard's base URL (https://HOST:PORT), when this replica serves one. */
  get dashboardUrl(): string | undefined {
    return this.dashboard?.url;
  }

  static async start(opts: ControlPlaneOptions): Promise<ControlPlane> {
    const logger = opts.logger;
    // Loaded here, not at the top: every CLI command loads this file, only the daemon needs prom-client.
    const metricsModule = require('./metrics/control-plane-metrics') as typeof import('./metrics/control-plane-metrics');
    const metrics: ControlPlaneMetrics = new metricsModule.ControlPlaneMetrics();
    const client = createEtcdClient(opts.etcd, { observer: metrics });
    const keys = new Keys(opts.prefix);
    try {
      // Fail fast with a clear message when etcd is not there.
      await client.maintenance.status({ deadline: Date.now() + 5_000 });
    } catch (err) {
      client.close();
      throw new Error(`cannot reach etcd at ${opts.etcd.join(',')}: ${(err as Error).message}`);
    }
    try {
      await checkOneEtcdCluster(opts.etcd);
    } catch (err) {
      client.close();
      throw err;
    }
    const view = await ClusterView.open(client, keys, logger);
    const health = new EtcdHealth(client, keys.leader(), logger);
    health.start();
    const leases = new LeaseKeeper(client, logger);
    const ttl = opts.agentTtlSeconds ?? 4;
    const useTls = opts.tls ?? !isLoopback(opts.listen);
    if (!useTls && !isLoopback(opts.listen)) logger.warn({ listen: opts.listen }, 'serving WITHOUT TLS off loopback, as asked: anyone who reaches this port controls the cluster');
    const security = useTls ? await setUpSecurity(client, keys, opts.listen, logger) : undefined;
    // Before anything else listens, so that a --metrics that cannot be served stops the start.
    let metricsServer: MetricsServer | undefined;
    if (opts.metrics) {
      metricsServer = await startMetricsServer({
        listen: opts.metrics,
        source: metrics,
        logger,
        tls: security && (() => security.provider.current),
        insecure: !security,
      }).catch(async (err: unknown) => {
        health.close();
        await view.close();
        client.close();
        throw err;
      });
      logger.info({ metrics: `${metricsServer.scheme}://${metricsServer.address}/metrics` }, 'serving metrics');
    }
    const dialer = new AgentDialer(security?.provider);
    const store = new AppStore(client, keys, opts.maxPerType);
    const ctx: ApiContext = {
      client,
      keys,
      view,
      logger,
      store,
      slugs: new SlugReplication(opts.dataDir, client, keys, logger, opts.slugs),
      heartbeats: new Map(),
      agentTtlMs: ttl * 1000,
      health,
      security,
      jobs: new JobStore(client, keys, store),
      dialer,
      metrics,
    };
    const hub = new AssignmentHub(view.placed);

    const server = new grpc.Server({ ...CHANNEL_OPTIONS, interceptors: [metricsInterceptor(metrics)] });
    let dashboardEndpoint: DashboardEndpoint | undefined;
    const api: ClusterApiHandlers = {
      ...appHandlers(ctx),
      Deploy: deployHandler(ctx),
      ...processHandlers(ctx),
      StopInstance: stopInstanceHandler(ctx),
      ...agentHandlers(ctx),
      ...tokenHandlers(ctx),
      ...placementHandlers(ctx),
      ...scheduleHandlers(ctx),
      Logs: logsHandler(ctx, dialer),
      Run: runRelay(ctx, dialer),
      ListReplicas: listReplicasHandler(() => ctx.replicas),
      ...dashboardHandlers(ctx, () => dashboardEndpoint),
    } as ClusterApiHandlers;
    const agents = agentService(ctx, leases, hub, {
      leaseTtlSeconds: ttl,
      heartbeatMs: opts.heartbeatMs ?? 1_000,
      logSourceTtlSeconds: opts.logSourceTtlSeconds,
      restartHoldSeconds: opts.agentRestartHoldSeconds ?? DEFAULT_RESTART_HOLD_SECONDS,
    });
    server.addService(apiProto().ClusterApi.service, security ? guard(api, operatorsOnly) : api);
    // Assignment batches arrive encoded (agents/assignment-wire.ts).
    server.addService(passEncoded(agentProto().AgentApi.service, 'WatchAssignments'), security ? guard(agents, agentsForThemselves) : agents);
    if (security) server.addService(bootstrapProto().Bootstrap.service, bootstrapService(security, view, logger));
    const slugService = ctx.slugs.service();
    server.addService(slugsProto().SlugReplication.service, security ? guard(slugService, controlPlaneOnly) : slugService);
    const credentials = security ? serverCredentials(security.provider) : grpc.ServerCredentials.createInsecure();
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(opts.listen, credentials, (err, p) => (err ? reject(err) : resolve(p))),
    ).catch(async (err: Error) => {
      health.close();
      await view.close();
      client.close();
      throw new Error(`cannot listen on ${opts.listen}: ${err.message}`);
    });
    const address = opts.listen.replace(/:\d+$/, `:${port}`);
    let replicas: ReplicaRegistry;
    let advertised: string;
    try {
      advertised = advertisedAddress(opts.listen, port, opts.advertise);
      replicas = await ReplicaRegistry.start(client, keys, { address: advertised, version: opts.version ?? '', ttlSeconds: opts.replicaTtlSeconds, logger });
    } catch (err) {
      server.forceShutdown();
      await view.close();
      client.close();
      throw err;
    }
    ctx.replicas = replicas;
    ctx.slugs.start(replicas, advertised, security?.provider);

    let dashboard: { server: DashboardServer; feed: ChangeFeed; url: string } | undefined;
    if (opts.http) {
      try {
        const { host } = splitHostPort(opts.http);
        if (!security && !isLoopback(opts.http)) logger.warn({ http: opts.http }, 'serving the dashboard over plain HTTP off loopback, as --insecure asked: session cookies can be read on the network');
        const urlHost = linkHost(host, advertised);
        const feed = new ChangeFeed(client, keys, view, logger);
        const sessions = new DashboardSessions(client, keys);
        const dashboardServer = await DashboardServer.start({
          listen: opts.http,
          tls: security ? await dashboardCertificate(security.ca, [host, urlHost]) : undefined,
          api,
          sessions,
          feed,
          assets: new StaticAssets(),
          metrics,
          metricsToken: opts.metricsToken,
          secure: !!security,
          logger,
        });
        const url = baseUrl(!!security, urlHost, dashboardServer.port);
        dashboard = { server: dashboardServer, feed, url };
        dashboardEndpoint = { sessions, url };
      } catch (err) {
        server.forceShutdown();
        await replicas.close().catch(() => undefined);
        await ctx.slugs.close().catch(() => undefined);
        health.close();
        await view.close();
        client.close();
        throw err;
      }
    }

    const replicaId = `${os.hostname()}-${process.pid}-${address}`;
    const election = new LeaderElection(client, keys.leader(), replicaId, opts.leaderTtlSeconds ?? 3, logger);
    // Agents get two lease TTLs to come back before their instances move (leader/agent-liveness.ts).
    const loop = new SchedulerLoop(client, view, election, logger, {
      agentDownGraceMs: 2 * ttl * 1000,
      lastEtcdOutageMs: () => health.lastOutageMs,
      metrics,
      packsAssignments: () => replicas.everyReplicaReads('packed-assignments'),
    });
    // A replica that cannot read packed assignments has joined, or the last such one has left.
    replicas.on('change', () => loop.poke());
    const cron = new CronLoop({ client, keys, view, store, election, dialer, logger, agentDownGraceMs: 2 * ttl * 1000 });
    const releasePhase = new ReleasePhaseLoop({ client, keys, view, election, dialer, logger, agentDownGraceMs: 2 * ttl * 1000 });
    const compactor = new Compactor(client, { historyMs: (opts.etcdHistorySeconds ?? DEFAULT_ETCD_HISTORY_SECONDS) * 1000, probeKey: keys.leader() }, logger);
    election.on('elected', () => {
      loop.start().catch((err: unknown) => logger.error({ err }, 'scheduler failed to start'));
      cron.start();
      releasePhase.start();
      compactor.start();
    });
    election.on('deposed', () => {
      // Deposed: each loop stops on its own; one failing must not keep the others running.
      loop.stop().catch((err: unknown) => logger.error({ err }, 'stopping the scheduler failed'));
      cron.stop().catch((err: unknown) => logger.error({ err }, 'stopping the scheduled-jobs loop failed'));
      releasePhase.stop().catch((err: unknown) => logger.error({ err }, 'stopping the release-phase loop failed'));
      compactor.stop().catch((err: unknown) => logger.error({ err }, 'stopping the etcd compactor failed'));
    });
    election.start();
    metrics.attach(ctx, () => election.state === 'leader');

    if (security) {
      await writeLocalOperatorCredential(security, address, logger);
      if (advertised !== address) await writeLocalOperatorCredential(security, advertised, logger);
    }
    logger.info({ address, advertised, replicaId: replicas.selfId, etcd: opts.etcd, prefix: keys.prefix, tls: useTls, caHash: security?.caHash, dashboard: dashboard?.url }, 'control plane listening');
    return new ControlPlane(address, advertised, replicas, server, client, view, election, loop, cron, releasePhase, compactor, leases, dialer, health, logger, ctx.slugs, ctx, dashboard, metricsServer);
  }

  get isLeader(): boolean {
    return this.election.state === 'leader';
  }

  /**
   * Stops serving, steps down and disconnects; idempotent, runs every step even if one fails.
   * Bounded: with etcd unreachable, a step that needs it (stepping down revokes a lease) gives
   * up after its share of CLOSE_BUDGET_MS, so SIGTERM ends the process within 5 s in any state.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const deadline = Date.now() + CLOSE_BUDGET_MS;
      const steps: Array<[string, () => Promise<void> | void]> = [
        ['stop probing etcd', () => this.health.close()],
        ['stop serving metrics', () => this.metricsServer?.close()],
        ['stop scheduling', () => this.loop.stop()],
        ['stop scheduled jobs', () => this.cron.stop()],
        ['stop release phases', () => this.releasePhase.stop()],
        ['stop compacting etcd', () => this.compactor.stop()],
        ['step down', () => this.election.close()],
        ['leave the replica set', () => this.replicas.close()],
        // Before the server drains: transfers in flight are cancelled rather than waited for.
        ['stop slug replication', () => this.slugs.close()],
        ['stop serving the dashboard', async () => {
          await this.dashboard?.server.close();
          await this.dashboard?.feed.close();
        }],
        ['stop serving', () => new Promise<void>((resolve) => {
          const timer = setTimeout(() => { this.server.forceShutdown(); resolve(); }, 1_000);
          this.server.tryShutdown(() => { clearTimeout(timer); resolve(); });
        })],
        ['close lease keeper', () => this.leases.close()],
        ['close agent connections', () => this.dialer.close()],
        ['close watches', () => this.view.close()],
        ['close etcd client', () => this.client.close()],
      ];
      for (const [name, step] of steps) {
        try {
          await within(Math.max(100, Math.min(STEP_BUDGET_MS, deadline - Date.now())), step(), name);
        } catch (err) {
          this.logger.warn({ err, step: name }, 'shutdown step failed');
        }
      }
    })();
    return this.closing;
  }
}
