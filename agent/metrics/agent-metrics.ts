/**
 * The agent's Prometheus metrics (prom-client), served by `cluster agent start --metrics`.
 * Every name and label is listed in docs/metrics.md. Labels are bounded: app, process type,
 * instance name (bounded by the formation), state and exit reason; never a pid or a time.
 *
 * Counts kept elsewhere (log store, usage sampler, instance states) are read at scrape time,
 * so nothing here runs between scrapes but the event counters.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ExitReason } from '../supervisor/instance-contract';
import type { InstanceEvents, SupervisedInstance } from '../reconciler-deps';
import type { InstanceUsage } from './usage-sampler';
import type { LogStoreStats } from '../logs/instance-log';

/** What the metrics read at scrape time. */
export interface AgentMetricsSources {
  instances(): SupervisedInstance[];
  usage(): InstanceUsage[];
  logStats(): LogStoreStats;
  /** Duration of the last /proc scan, ms. */
  lastScanMs(): number;
}

export class AgentMetrics implements InstanceEvents {
  readonly registry = new Registry();
  private readonly restarts: Counter<'app' | 'type'>;
  private readonly exits: Counter<'app' | 'type' | 'reason'>;
  private readonly spawnSeconds: Histogram;

  constructor(sources: AgentMetricsSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'cluster_agent_' });
    new Gauge({
      name: 'cluster_agent_instances',
      help: 'Instances supervised by this agent, by app, process type and state.',
      labelNames: ['app', 'type', 'state'],
      registers,
      collect() {
        this.reset();
        for (const i of sources.instances()) this.inc({ app: i.app, type: i.type, state: i.state });
      },
    });
    this.restarts = new Counter({
      name: 'cluster_agent_instance_restarts_total',
      help: 'Processes started again after a crash, by app and process type.',
      labelNames: ['app', 'type'],
      registers,
    });
    this.exits = new Counter({
      name: 'cluster_agent_instance_exits_total',
      help: 'Processes that ended, by app, process type and reason (exit_code, signal, unknown, boot_timeout, spawn_failed, stopped).',
      labelNames: ['app', 'type', 'reason'],
      registers,
    });
    this.spawnSeconds = new Histogram({
      name: 'cluster_agent_spawn_duration_seconds',
      help: 'Time to spawn an instance process (fork and exec of its process group).',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers,
    });
    new Counter({
      name: 'cluster_agent_log_lines_captured_total',
      help: 'Output lines of instances captured into the log store.',
      registers,
      collect() {
        this.reset();
        this.inc(sources.logStats().lines);
      },
    });
    new Counter({
      name: 'cluster_agent_log_lines_dropped_total',
      help: 'Lines not written to disk because writes fell behind (still kept in memory; a marker says where).',
      registers,
      collect() {
        this.reset();
        this.inc(sources.logStats().diskDroppedLines);
      },
    });
    new Gauge({
      name: 'cluster_agent_log_disk_bytes',
      help: 'Bytes of log files on disk.',
      registers,
      collect() {
        this.set(sources.logStats().bytesOnDisk);
      },
    });
    new Counter({
      name: 'cluster_agent_instance_cpu_seconds_total',
      help: 'CPU time (user + system) of the instance process group since its current process started.',
      labelNames: ['app', 'type', 'instance'],
      registers,
      collect() {
        this.reset();
        for (const u of sources.usage()) this.inc({ app: u.app, type: u.type, instance: u.instance }, u.cpuSeconds);
      },
    });
    new Gauge({
      name: 'cluster_agent_instance_memory_bytes',
      help: 'Resident memory (RSS) of the instance process group.',
      labelNames: ['app', 'type', 'instance'],
      registers,
      collect() {
        this.reset();
        for (const u of sources.usage()) this.set({ app: u.app, type: u.type, instance: u.instance }, u.rssBytes);
      },
    });
    new Gauge({
      name: 'cluster_agent_usage_scan_duration_seconds',
      help: 'Duration of the last /proc scan that sampled every instance.',
      registers,
      collect() {
        this.set(sources.lastScanMs() / 1000);
      },
    });
  }

  processEnded(app: string, type: string, reason: ExitReason): void {
    this.exits.inc({ app, type, reason });
  }

  restarted(app: string, type: string): void {
    this.restarts.inc({ app, type });
  }

  spawnTime(seconds: number): void {
    this.spawnSeconds.observe(seconds);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }
}
