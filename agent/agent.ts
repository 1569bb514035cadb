/**
 * The agent daemon: one per server. Joins the control plane, follows its assignments,
 * and supervises the processes they name.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Logger } from '../lib/log';
import type { AgentOptions } from './agent-options';
import { ControlPlaneLink } from './link/control-plane-link';
import { AssignmentStream } from './link/assignment-stream';
import { StatusReporter } from './link/status-reporter';
import { ReleaseCache } from './releases/release-cache';
import { DEFAULT_KEEP_SLUGS_MS, SlugJanitor, slugSweepIntervalMs, withHeld } from './releases/slug-janitor';
import { Reconciler } from './reconciler';
import { keyOf } from './assignment-keys';
import { DisconnectGuard } from './disconnect-guard';
import { OrphanGuard } from './supervisor/orphan-guard';
import { uptimeMs } from './supervisor/proc-stat';
import { EscapeeSweeper } from './supervisor/escapees';
import { OutputFifoMaker } from './supervisor/output-fifos';
import { PortAllocator } from './supervisor/ports';
import { AgentStateWriter, type InstanceRecord } from './handover/instance-state';
import { takeOver, type AdoptedRecord, type TakeOverResult } from './handover/take-over';
import { reportPreviousOneOffs } from './handover/previous-one-offs';
import { handoverWindowMs, plannedHandoverWindowMs, windowLeftMs } from './handover/window';
import { lockDataDir } from './data-dir-lock';
import { MIN_WRITE_GAP_MS } from './logs/disk-writer';
import { LogStore } from './logs/log-store';
import { startAgentServer, type AgentServer } from './server/agent-server';
import { CertificateRenewer } from './tls/renewer';
import { StaticCertificateProvider } from '../lib/tls';
import { parseServerList } from '../lib/server-list';
import { checkReplicas } from './link/replica-check';
import { UsageSampler, DEFAULT_SAMPLE_MS } from './metrics/usage-sampler';
import type { AgentMetrics } from './metrics/agent-metrics';
import { startMetricsServer, type MetricsServer } from '../lib/metrics-server';

export type AgentState = 'running' | 'stopping' | 'stopped';

/**
 * How the agent leaves: `handover` (SIGTERM, SIGINT: a restart or an upgrade) leaves the
 * instances running for the next agent run to take over, within the hand-over window;
 * `stop-instances` (`cluster agent stop --stop-instances`) stops them first.
 */
export type CloseMode = 'handover' | 'stop-instances';

function loadAgentMetrics(): typeof AgentMetrics {
  return (require('./metrics/agent-metrics') as typeof import('./metrics/agent-metrics')).AgentMetrics;
}

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
    private readonly escapees: EscapeeSweeper,
    private readonly server: AgentServer,
    private readonly logs: LogStore,
    private readonly logger: Logger,
    private readonly stateWriter: AgentStateWriter,
    private readonly unlock: () => void,
    private readonly sampler: UsageSampler,
    private readonly janitor: SlugJanitor,
    private readonly renewer?: CertificateRenewer,
    /** Where metrics are served (`--metrics`), with its scheme. */
    readonly metricsServer?: MetricsServer,
  ) {}

  /** Calls `listener` with the number of lines each capture stored, as it stores them. */
  watchLogLines(listener: (count: number) => void): void {
    this.logs.watchLines(listener);
  }

  static async start(opts: AgentOptions): Promise<Agent> {
    const logger = opts.logger.child({ agent: opts.identity.id });
    fs.mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
    const unlock = lockDataDir(opts.dataDir);
    try {
      return await Agent.startLocked(opts, logger, unlock);
    } catch (err) {
      unlock();
      throw err;
    }
  }

  /**
   * Takes the previous run's instances over first, within its hand-over window (nothing slow
   * before it: no network), and guards them with a watchdog at once. If the rest of the start
   * fails, they are handed over again: to the next run (systemd restarts us), or stopped by the
   * watchdog once the window has passed.
   */
  private static async startLocked(opts: AgentOptions, logger: Logger, unlock: () => void): Promise<Agent> {
    // Written by agents before hand-over existed; what it listed is found by take-over's scan.
    fs.rmSync(path.join(opts.dataDir, 'process-groups.json'), { force: true });
    const stateFile = path.join(opts.dataDir, 'instances.json');
    // The instances of the previous run: adopted if they are still the same processes, else stopped.
    const previous = await takeOver({ stateFile, agentId: opts.identity.id, agentDir: path.resolve(opts.dataDir), logger });
    const state = new AgentStateWriter(stateFile, opts.identity.id, logger);
    const guard = OrphanGuard.start(logger, { marks: { host: opts.identity.id, agentDir: path.resolve(opts.dataDir) } }, (id) => state.setWatchdog(id));
    // A restart hold given to an earlier run outlives it, and this run's registration: until its
    // window ends the instances are kept here, also when this run leaves or dies before it has
    // a window as long (a second SIGTERM while starting; docs/agent-handover.md).
    const keepUntil = previous.keepUntilUptimeMs;
    const now = uptimeMs();
    if (keepUntil !== undefined && now !== undefined && keepUntil > now) {
      guard.setKeepUntil(keepUntil);
      state.keepUntil(keepUntil);
      logger.info({ keptForMs: keepUntil - now }, "the previous run's restart hold keeps the instances here a while yet, whatever becomes of this run");
    }
    for (const record of previous.adopted) {
      guard.track(record.pid);
      // Without its environment: the state file never holds config values.
      const stored: Partial<AdoptedRecord> = { ...record };
      delete stored.env;
      state.set(keyOf(record.app, record.instance), stored as InstanceRecord);
    }
    for (const record of previous.waiting) state.set(keyOf(record.app, record.instance), record);
    try {
      return await Agent.startGuarded(opts, logger, unlock, previous, state, guard);
    } catch (err) {
      await state.flush();
      await guard.detach();
      throw err;
    }
  }

  private static async startGuarded(
    opts: AgentOptions,
    logger: Logger,
    unlock: () => void,
    previous: TakeOverResult,
    state: AgentStateWriter,
    guard: OrphanGuard,
  ): Promise<Agent> {
    // Replicas of another cluster (another CA) are refused before anything else runs.
    const clusterId = await checkReplicas(parseServerList(opts.server), opts.tls, logger);
    const logs = LogStore.open({ dir: path.join(opts.dataDir, 'logs'), logger, ...opts.logs });
    // What an instance or one-off leaves running in a session of its own is stopped once it has ended.
    const escapees = new EscapeeSweeper({
      agentId: opts.identity.id,
      agentDir: path.resolve(opts.dataDir),
      logger,
      onStopped: (app, instance, stopped) => {
        const named = stopped.map((p) => `${p.name} (pid ${p.pid})`).join(', ');
        logs.append(app, instance, 'system', `Stopping ${named}: a process of ${instance} that has ended left it running in a session of its own`, false);
      },
    });
    for (const record of previous.adopted) escapees.track(record.pid, record.app, record.instance, record.startTicks);
    // Every process group of an instance or a one-off: watched by the orphan guard while it lives, swept after.
    const groupStarted = (pgid: number, app: string, instance: string) => {
      guard.track(pgid);
      escapees.track(pgid, app, instance);
    };
    const groupEnded = (pgid: number) => {
      guard.untrack(pgid);
      escapees.ended(pgid);
    };
    // The link is needed by the release cache and the reporter; its address is set once the server is bound.
    const identity = { ...opts.identity, address: opts.advertise ?? '', ports: opts.ports.to - opts.ports.from + 1 };
    const provider = opts.tls && new StaticCertificateProvider(opts.tls);
    const link = new ControlPlaneLink(opts.server, identity, opts.dataDir, () => logs.apps(), logger, provider, clusterId);
    const reporter = new StatusReporter(link.client, link, opts.identity.id, logger, opts.statusResendMs);
    reportPreviousOneOffs(previous, logs, reporter);
    const ports = new PortAllocator(opts.ports);
    const releases = new ReleaseCache(opts.dataDir, link.client, logger);
    // The server answers before the reconciler exists; a kill asked for meanwhile finds nothing.
    let reconcilerOf: Reconciler | undefined;
    // Samples what runs (pid 0: between processes) for `ps` and the metrics; never written to etcd.
    const sampler = new UsageSampler(() => (reconcilerOf?.list() ?? []).filter((i) => i.pid > 0));
    // prom-client is loaded only when metrics are served: every start of the agent costs, and a
    // restarted agent must take its instances over within the hand-over window.
    const AgentMetricsClass = opts.metrics ? loadAgentMetrics() : undefined;
    const metrics: AgentMetrics | undefined = AgentMetricsClass && new AgentMetricsClass({
      instances: () => reconcilerOf?.list() ?? [],
      usage: () => sampler.usage(),
      logStats: () => logs.stats(),
      lastScanMs: () => sampler.lastScanMs,
    });
    const server = await startAgentServer(opts.listen, logs, {
      agentId: opts.identity.id,
      agentDir: path.resolve(opts.dataDir),
      releases,
      ports,
      logs,
      report: (status) => reporter.report(status),
      // A one-off is recorded while it runs: should it end while no agent runs, the next run reports its end.
      track: (pgid, app, instance) => {
        groupStarted(pgid, app, instance);
        state.setOneOff(pgid, { app, instance, pid: pgid });
      },
      untrack: (pgid) => {
        groupEnded(pgid);
        state.setOneOff(pgid, undefined);
      },
      launching: (app, instance, runId, fetching) => state.setLaunchingOneOff(`${app}/${instance}#${runId}`, fetching ? { app, instance } : undefined),
      killInstance: (app, instance) => reconcilerOf?.kill(app, instance) ?? false,
      logger,
    }, (app) => sampler.usage(app || undefined), provider).catch(async (err: unknown) => {
      link.close();
      await logs.close().catch(() => undefined);
      throw err;
    });
    let metricsServer: MetricsServer | undefined;
    if (opts.metrics && metrics) {
      metricsServer = await startMetricsServer({ listen: opts.metrics, source: metrics, logger, tls: provider && (() => provider.current) }).catch(async (err: unknown) => {
        link.close();
        await server.close();
        await logs.close().catch(() => undefined);
        throw err;
      });
      logger.info({ metrics: `${metricsServer.scheme}://${metricsServer.address}/metrics` }, 'serving metrics');
    }
    // A wildcard listen address names no host: the control plane records the IP we call it from.
    const wildcard = /^(0\.0\.0\.0|\[::\]|::):\d+$/.test(server.address);
    const address = opts.advertise ?? (wildcard ? '' : server.address);
    identity.address = address;
    identity.listenPort = Number(/:(\d+)$/.exec(server.address)?.[1] ?? 0);
    const reconciler = new Reconciler({
      agentId: opts.identity.id,
      agentDir: path.resolve(opts.dataDir),
      defaultGraceMs: opts.stopGraceMs ?? 30_000,
      ports,
      releases,
      logger,
      report: (status) => reporter.report(status),
      onLine: (app, instance, stream, line, cut) => logs.append(app, instance, stream, line, cut),
      onLines: (app, instance, stream, run) => logs.appendRun(app, instance, stream, run),
      outputGate: (app, instance, blocking) => logs.gate(app, instance, blocking),
      // In the spawn's own turn; a process of an agent killed mid-spawn is found by its markers.
      onSpawn: groupStarted,
      onExit: groupEnded,
      fifos: new OutputFifoMaker(path.join(opts.dataDir, 'instances')),
      record: (key, record) => state.set(key, record),
      events: metrics,
    });
    reconcilerOf = reconciler;
    reconciler.adopt(
      previous.adopted,
      // What a run that died had read but not written yet is lost (docs/logs.md): say so where it would be.
      previous.handedOver ? undefined : `the previous agent run ended without a hand-over, so what it read of the output in its last ${MIN_WRITE_GAP_MS} ms may be missing`,
    );
    reconciler.adoptWaiting(previous.waiting);
    sampler.start(opts.usageSampleMs ?? DEFAULT_SAMPLE_MS);
    const keepSlugsMs = opts.keepSlugsMs ?? DEFAULT_KEEP_SLUGS_MS;
    const janitor = new SlugJanitor({
      dir: releases.dir,
      keepMs: keepSlugsMs,
      inUse: () => withHeld(reconciler.slugsInUse(), releases.held()),
      logger,
    });
    janitor.start(slugSweepIntervalMs(keepSlugsMs));
    link.on('registered', () => {
      const windowMs = handoverWindowMs(link.ttlSeconds, link.heartbeatMs);
      if (windowMs !== guard.handoverWindowMs) logger.info({ handoverWindowMs: windowMs }, 'agent hand-over window set from the lease TTL');
      guard.setHandoverWindow(windowMs);
    });
    // Once gone, the agent's processes are killed before its instances can be placed elsewhere.
    link.on('renewed', (floorMs) => guard.setLeaseFloor(floorMs));
    const stream = new AssignmentStream(link.client, opts.identity.id, (batch) => reconciler.apply(batch), logger);
    link.on('switched', () => stream.resubscribe());
    // Refused (another live agent holds this id): what runs here is that agent's, and runs there;
    // refused as invalid: the control plane counts this agent gone and places it elsewhere. Either
    // way stopped until a registration is accepted, whose snapshot says what is this agent's again.
    let refused = false;
    link.on('refused', (why) => {
      refused = true;
      reconciler.suspend(`the control plane refused to register this agent: ${why}`);
    });
    link.on('registered', () => {
      if (!refused) return;
      refused = false;
      reconciler.allowResume();
      stream.resubscribe();
    });
    const renewer = provider && new CertificateRenewer(opts.tls!, provider, { server: () => link.currentServer, agentId: opts.identity.id, dataDir: opts.dataDir, logger });
    renewer?.start();
    // The link emits `unreachable` (with when the first call failed) and `reachable`.
    const disconnect = new DisconnectGuard(opts.disconnectedGraceMs ?? 0, link, reconciler, logger, () => stream.resubscribe());
    // A frozen agent runs no timer, so the watchdog keeps that grace for it (orphan-guard.ts).
    if ((opts.disconnectedGraceMs ?? 0) > 0) guard.setFreezeLimit(opts.disconnectedGraceMs!);
    link.start();
    stream.start();
    logger.info(
      { server: opts.server, address: address || `<the IP it reaches the control plane from>:${identity.listenPort}`, dataDir: opts.dataDir, ports: opts.ports, disconnectedGraceMs: opts.disconnectedGraceMs ?? 0 },
      'agent started',
    );
    return new Agent(link, stream, reporter, reconciler, disconnect, guard, escapees, server, logs, logger, state, unlock, sampler, janitor, renewer, metricsServer);
  }

  /**
   * Leaves (see CloseMode); idempotent. After a hand-over the next run keeps the lease; after
   * `stop-instances` the control plane ends it once nothing of the agent's runs (else it runs out).
   */
  close(mode: CloseMode = 'handover'): Promise<void> {
    this.closing ??= (async () => {
      this.state = 'stopping';
      // The hand-over window and when it was reckoned (see windowLeftMs; a monotonic clock).
      let window = { ms: this.guard.handoverWindowMs, fromMs: performance.now() };
      let restartHoldMs = 0;
      this.disconnect.close();
      this.stream.close();
      this.renewer?.close();
      this.sampler.close();
      this.janitor.close();
      await this.metricsServer?.close();
      if (mode === 'stop-instances') {
        // One-offs too, as `apps:destroy` stops them: nothing of this agent's is left running.
        const [, oneOffsEnded] = await Promise.all([
          this.reconciler.close().catch((err: unknown) => this.logger.warn({ err }, 'stopping instances failed')),
          this.server.stopOneOffs('agent-stop'),
        ]);
        await this.escapees.flush();
        // Nothing of it runs: the control plane may place its instances elsewhere now, not a TTL later.
        if (oneOffsEnded) await this.link.stoppedHeartbeat(1_000);
      } else {
        // One-offs are not handed over: stopped here, each caller told its exit, while the
        // instances run on (the hand-over window counts from the leaving heartbeat below).
        await this.server.stopOneOffs('agent-restart');
        await this.reporter.sendPending(1_000);
        // Heartbeats went on meanwhile: the window counts from now, not from the start of close().
        window = { ms: this.guard.handoverWindowMs, fromMs: performance.now() };
        // A scan still due is left to the next run's take-over, which stops what no instance owns.
        this.escapees.close();
        this.reconciler.detach();
        const beatAt = performance.now();
        // A second at most: the control plane renews the lease and writes the hold (etcd, maybe
        // slow on the loaded machine that made the hold worth having); the window counts from here.
        const beat = await this.link.leavingHeartbeat(1_000);
        if (beat.alive) {
          window = { ms: plannedHandoverWindowMs(this.link.ttlSeconds, beat.holdMs), fromMs: beatAt };
          // For the next run: should it leave or die before it has a window of its own as long.
          const now = uptimeMs();
          if (now !== undefined) this.stateWriter.keepUntil(now + windowLeftMs(window.ms, performance.now() - window.fromMs));
        }
        restartHoldMs = beat.holdMs;
      }
      this.reporter.close();
      this.link.close();
      await this.server.close();
      let logsFlushed = true;
      await this.logs.close().catch((err: unknown) => {
        logsFlushed = false;
        this.logger.warn({ err }, 'flushing logs failed');
      });
      // Only then may the next run trust that what this one read is on disk (AgentState.handedOver).
      if (mode === 'handover' && logsFlushed) this.stateWriter.markHandedOver();
      await this.stateWriter.flush();
      if (mode === 'stop-instances') await this.guard.close().catch((err: unknown) => this.logger.warn({ err }, 'closing the orphan guard failed'));
      else {
        // Closing the server (a call still going: up to 500 ms) and flushing took time off the lease.
        this.guard.setHandoverWindow(windowLeftMs(window.ms, performance.now() - window.fromMs));
        await this.guard.detach();
      }
      this.unlock();
      this.state = 'stopped';
      this.logger.info(
        mode === 'handover'
          ? { handoverWindowMs: this.guard.handoverWindowMs, restartHoldMs }
          : {},
        mode === 'handover' ? 'agent stopped; its instances run on for the next agent run to take over' : 'agent stopped with its instances',
      );
    })();
    return this.closing;
  }
}
