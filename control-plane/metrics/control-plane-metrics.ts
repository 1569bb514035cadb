/**
 * A control-plane replica's Prometheus metrics (prom-client): one registry per replica, fed by
 * the scheduler loop, the etcd client, the gRPC server and the logs fan-out, plus cluster-wide
 * gauges computed at scrape time. Every name and label is listed in docs/metrics.md.
 *
 * Served at /metrics by the control plane's HTTP listener (`controlPlaneMetrics(ctx)`) and by
 * `cluster control-plane start --metrics HOST:PORT`.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ApiContext } from '../rpc/context';
import type { EtcdRequestObserver } from '../etcd/instrument';
import type { GrpcCallObserver } from './grpc-instrument';
import { agentsByState, countInstances, desiredInstances } from './cluster-gauges';

/** What the scheduler loop reports after each round. */
export interface SchedulerObserver {
  round(seconds: number, planChanges: number): void;
}

/** What the logs fan-out reports. */
export interface LogStreamObserver {
  streamOpened(): void;
  streamClosed(): void;
}

export class ControlPlaneMetrics implements EtcdRequestObserver, GrpcCallObserver, SchedulerObserver, LogStreamObserver {
  readonly registry = new Registry();
  private ctx?: ApiContext;
  private isLeader: () => boolean = () => false;
  private readonly roundSeconds: Histogram;
  private readonly planChanges: Histogram;
  private readonly etcdSeconds: Histogram<'method'>;
  private readonly etcdErrors: Counter<'method' | 'error'>;
  private readonly apiRequests: Counter<'service' | 'method' | 'code'>;
  private readonly apiSeconds: Histogram<'service' | 'method'>;
  private readonly logStreams: Gauge;

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'cluster_control_plane_' });
    const instances: Gauge<'app' | 'type' | 'state'> = new Gauge({
      name: 'cluster_instances',
      help: 'Instances by app, process type and state, as `cluster ps` shows them (pending, starting, up, crashed, stopping …).',
      labelNames: ['app', 'type', 'state'],
      registers,
      collect: async () => {
        const counts = this.ctx ? await countInstances(this.ctx) : [];
        instances.reset();
        for (const c of counts) instances.set({ app: c.app, type: c.type, state: c.state }, c.count);
      },
    });
    const desired: Gauge<'app' | 'type'> = new Gauge({
      name: 'cluster_instances_desired',
      help: 'Instances asked for by the formation (`cluster scale`), by app and process type.',
      labelNames: ['app', 'type'],
      registers,
      collect: () => {
        desired.reset();
        if (this.ctx) for (const c of desiredInstances(this.ctx)) desired.set({ app: c.app, type: c.type }, c.count);
      },
    });
    const agents: Gauge<'state'> = new Gauge({
      name: 'cluster_agents',
      help: 'Registered agents by state (ready, draining).',
      labelNames: ['state'],
      registers,
      collect: () => {
        agents.reset();
        if (!this.ctx) return;
        const states = agentsByState(this.ctx);
        for (const state of ['ready', 'draining']) states.set(state, states.get(state) ?? 0);
        for (const [state, n] of states) agents.set({ state }, n);
      },
    });
    const leader: Gauge = new Gauge({
      name: 'cluster_leader',
      help: '1 while this replica is the leader (it schedules), else 0.',
      registers,
      collect: () => {
        leader.set(this.isLeader() ? 1 : 0);
      },
    });
    this.roundSeconds = new Histogram({
      name: 'cluster_scheduler_round_duration_seconds',
      help: 'Duration of a scheduling round on the leader: snapshot, plan, and writing the plan to etcd.',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.planChanges = new Histogram({
      name: 'cluster_scheduler_plan_changes',
      help: 'Assignments written (placed plus removed) by a scheduling round.',
      buckets: [0, 1, 5, 10, 50, 100, 500, 1000, 5000],
      registers,
    });
    this.etcdSeconds = new Histogram({
      name: 'cluster_etcd_request_duration_seconds',
      help: 'Duration of unary etcd requests by etcd method (KV.Range, KV.Txn …), failed ones included.',
      labelNames: ['method'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.etcdErrors = new Counter({
      name: 'cluster_etcd_request_errors_total',
      help: 'Failed unary etcd requests by etcd method and error class.',
      labelNames: ['method', 'error'],
      registers,
    });
    this.apiRequests = new Counter({
      name: 'cluster_grpc_requests_total',
      help: 'gRPC calls served (CLI API, agent API, replica services) by service, method and status code.',
      labelNames: ['service', 'method', 'code'],
      registers,
    });
    this.apiSeconds = new Histogram({
      name: 'cluster_grpc_request_duration_seconds',
      help: 'Duration of served gRPC calls by service and method (streams: until they end).',
      labelNames: ['service', 'method'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60],
      registers,
    });
    this.logStreams = new Gauge({
      name: 'cluster_log_streams_open',
      help: '`cluster logs` streams this replica serves now.',
      registers,
    });
  }

  /** Gives the scrape-time gauges their source, once the replica's API context exists. */
  attach(ctx: ApiContext, isLeader: () => boolean): void {
    this.ctx = ctx;
    this.isLeader = isLeader;
  }

  request(method: string, seconds: number, error: string | undefined): void {
    this.etcdSeconds.observe({ method }, seconds);
    if (error) this.etcdErrors.inc({ method, error });
  }

  call(service: string, method: string, code: string, seconds: number): void {
    this.apiRequests.inc({ service, method, code });
    this.apiSeconds.observe({ service, method }, seconds);
  }

  round(seconds: number, planChanges: number): void {
    this.roundSeconds.observe(seconds);
    this.planChanges.observe(planChanges);
  }

  streamOpened(): void {
    this.logStreams.inc();
  }

  streamClosed(): void {
    this.logStreams.dec();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  render(): Promise<string> {
    // Scrapes that arrive together share one collection: each reads every app from etcd.
    if (this.rendering) return this.rendering;
    const rendering = this.registry.metrics().finally(() => {
      if (this.rendering === rendering) this.rendering = undefined;
    });
    this.rendering = rendering;
    return rendering;
  }
  private rendering: Promise<string> | undefined;
}
