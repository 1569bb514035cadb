/**
 * One control-plane replica: serves the CLI API and the agent API, and schedules while
 * it holds leadership. Everything it knows is in etcd; it can be killed at any instant.
 */
import * as os from 'node:os';
import * as grpc from '@grpc/grpc-js';
import { Etcd3 } from 'etcd3';
import type { Logger } from '../lib/log';
import { agentProto, apiProto, bootstrapProto, CHANNEL_OPTIONS } from '../proto/load';
import { Keys } from './keys';
import { AppStore } from './state/app-store';
import { ClusterView } from './state/cluster-view';
import { SlugStore } from './slugs/slug-store';
import { LeaseKeeper } from './etcd/lease-keeper';
import { LeaderElection } from './leader/election';
import { SchedulerLoop } from './leader/scheduler-loop';
import { AssignmentHub } from './agents/assignment-hub';
import { agentService } from './agents/agent-service';
import type { ApiContext } from './api/context';
import { appHandlers } from './api/apps';
import { deployHandler } from './api/deploy';
import { processHandlers } from './api/processes';
import { agentHandlers } from './api/agents';
import { placementHandlers } from './api/placement';
import { AgentDialer } from './agents/agent-dialer';
import { logsHandler } from './logs/logs-handler';
import { runRelay } from './run/run-relay';
import { tokenHandlers } from './api/tokens';
import { setUpSecurity } from './security/security';
import { agentsForThemselves, operatorsOnly } from './security/authz';
import { bootstrapService } from './security/bootstrap-service';
import { writeLocalOperatorCredential } from './security/local-operator';
import { guard } from '../lib/authz';
import { serverCredentials } from '../lib/tls';
import type { ClusterApiHandlers } from '../proto/gen/cluster/api/ClusterApi';

export interface ControlPlaneOptions {
  etcd: string[];
  listen: string;
  dataDir: string;
  prefix?: string;
  /** Seconds without a heartbeat before an agent is declared gone. */
  agentTtlSeconds?: number;
  heartbeatMs?: number;
  leaderTtlSeconds?: number;
  maxPerType?: number;
  /**
   * Mutual TLS for every caller. Default: on unless the listener is on loopback (a dev
   * cluster); plaintext off loopback must be asked for with `tls: false`.
   */
  tls?: boolean;
  logger: Logger;
}

/** Whether `listen` (host:port) is a loopback address. */
export function isLoopback(listen: string): boolean {
  const host = listen.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

export class ControlPlane {
  private closing?: Promise<void>;

  private constructor(
    readonly address: string,
    private readonly server: grpc.Server,
    private readonly client: Etcd3,
    private readonly view: ClusterView,
    private readonly election: LeaderElection,
    private readonly loop: SchedulerLoop,
    private readonly leases: LeaseKeeper,
    private readonly dialer: AgentDialer,
    private readonly logger: Logger,
  ) {}

  static async start(opts: ControlPlaneOptions): Promise<ControlPlane> {
    const logger = opts.logger;
    const client = new Etcd3({ hosts: opts.etcd, dialTimeout: 3_000 });
    const keys = new Keys(opts.prefix);
    try {
      // Fail fast with a clear message when etcd is not there.
      await client.maintenance.status({ deadline: Date.now() + 5_000 });
    } catch (err) {
      client.close();
      throw new Error(`cannot reach etcd at ${opts.etcd.join(',')}: ${(err as Error).message}`);
    }
    const view = await ClusterView.open(client, keys, logger);
    const leases = new LeaseKeeper(client, logger);
    const ttl = opts.agentTtlSeconds ?? 4;
    const ctx: ApiContext = {
      client,
      keys,
      view,
      logger,
      store: new AppStore(client, keys, opts.maxPerType),
      slugs: new SlugStore(opts.dataDir),
      heartbeats: new Map(),
    };
    const hub = new AssignmentHub(view.assignments, keys);
    const useTls = opts.tls ?? !isLoopback(opts.listen);
    if (!useTls && !isLoopback(opts.listen)) logger.warn({ listen: opts.listen }, 'serving WITHOUT TLS off loopback, as asked: anyone who reaches this port controls the cluster');
    const security = useTls ? await setUpSecurity(client, keys, opts.listen, logger) : undefined;
    ctx.security = security;
    const dialer = new AgentDialer(security?.provider);

    const server = new grpc.Server(CHANNEL_OPTIONS);
    const api: ClusterApiHandlers = {
      ...appHandlers(ctx),
      Deploy: deployHandler(ctx),
      ...processHandlers(ctx),
      ...agentHandlers(ctx),
      ...tokenHandlers(ctx),
      ...placementHandlers(ctx),
      Logs: logsHandler(ctx, dialer),
      Run: runRelay(ctx, dialer),
    } as ClusterApiHandlers;
    const agents = agentService(ctx, leases, hub, { leaseTtlSeconds: ttl, heartbeatMs: opts.heartbeatMs ?? 1_000 });
    server.addService(apiProto().ClusterApi.service, security ? guard(api, operatorsOnly) : api);
    server.addService(agentProto().AgentApi.service, security ? guard(agents, agentsForThemselves) : agents);
    if (security) server.addService(bootstrapProto().Bootstrap.service, bootstrapService(security, view, logger));
    const credentials = security ? serverCredentials(security.provider) : grpc.ServerCredentials.createInsecure();
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(opts.listen, credentials, (err, p) => (err ? reject(err) : resolve(p))),
    ).catch(async (err: Error) => {
      await view.close();
      client.close();
      throw new Error(`cannot listen on ${opts.listen}: ${err.message}`);
    });
    const address = opts.listen.replace(/:\d+$/, `:${port}`);

    const replicaId = `${os.hostname()}-${process.pid}-${address}`;
    const election = new LeaderElection(client, keys.leader(), replicaId, opts.leaderTtlSeconds ?? 3, logger);
    // Agents get two lease TTLs to come back before their instances move (leader/agent-liveness.ts).
    const loop = new SchedulerLoop(client, view, election, logger, { agentDownGraceMs: 2 * ttl * 1000 });
    election.on('elected', () => void loop.start().catch((err: unknown) => logger.error({ err }, 'scheduler failed to start')));
    election.on('deposed', () => void loop.stop());
    election.start();

    if (security) await writeLocalOperatorCredential(security, address, logger);
    logger.info({ address, etcd: opts.etcd, prefix: keys.prefix, tls: useTls, caHash: security?.caHash }, 'control plane listening');
    return new ControlPlane(address, server, client, view, election, loop, leases, dialer, logger);
  }

  get isLeader(): boolean {
    return this.election.state === 'leader';
  }

  /** Stops serving, steps down and disconnects; idempotent, runs every step even if one fails. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const steps: Array<[string, () => Promise<void> | void]> = [
        ['stop scheduling', () => this.loop.stop()],
        ['step down', () => this.election.close()],
        ['stop serving', () => new Promise<void>((resolve) => {
          const timer = setTimeout(() => { this.server.forceShutdown(); resolve(); }, 2_000);
          this.server.tryShutdown(() => { clearTimeout(timer); resolve(); });
        })],
        ['close lease keeper', () => this.leases.close()],
        ['close agent connections', () => this.dialer.close()],
        ['close watches', () => this.view.close()],
        ['close etcd client', () => this.client.close()],
      ];
      for (const [name, step] of steps) {
        try {
          await step();
        } catch (err) {
          this.logger.warn({ err, step: name }, 'shutdown step failed');
        }
      }
    })();
    return this.closing;
  }
}
