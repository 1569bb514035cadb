/**
 * The agent's connection to the control plane: registers under an etcd lease (kept
 * across agent restarts when still alive), heartbeats (over one stream: heartbeat-stream.ts),
 * and re-registers when told the
 * lease is gone. The agent always dials out; an unreachable control plane is retried
 * forever and never stops running instances.
 *
 * Failover: the link knows every replica (the addresses it was given, those it learns
 * with ListReplicas, remembered in the data dir). `client` calls the current replica;
 * when a heartbeat or registration finds it unreachable the link moves to the next one at
 * once and everything using `client` (assignment stream, status reports, slug fetches)
 * follows, and `switched` is emitted so streams re-subscribe. Any replica renews any
 * agent's lease, so the registration and the instances are untouched.
 */
import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { agentProto, CHANNEL_OPTIONS } from '../../proto/load';
import type { AgentApiClient } from '../../proto/gen/cluster/agent/AgentApi';
import type { Logger } from '../../lib/log';
import { callUnary, DEFAULT_DEADLINE_MS } from '../../lib/grpc-call';
import { caHash, CONTROL_PLANE_NAME } from '../../lib/pki';
import { channelCredentials, targetName, type StaticCertificateProvider } from '../../lib/tls';
import { isReplicaFailure, ServerSet } from '../../lib/failover';
import { OWN_SUBCHANNELS } from '../../lib/fresh-channel';
import { parseServerList } from '../../lib/server-list';
import { loadReplicas } from './replica-memory';
import { ForeignReplicaError, ReplicaDiscovery } from './replica-discovery';
import { ReplicaLeft } from './replica-left';
import { readSavedLease, saveLease } from './saved-lease';
import { jittered } from '../../lib/retry-delay';
import { HeartbeatLateness } from './heartbeat-lateness';
import { HeartbeatStream } from './heartbeat-stream';
import { TlsMismatchWatch } from './tls-mismatch';
import { uptimeMs } from '../supervisor/proc-stat';
import { RegistrationRefusals } from './registration-refusals';

export interface AgentIdentity {
  id: string;
  /** Where the control plane dials the agent; empty: `<the IP we call from>:<listenPort>`. */
  address: string;
  /** The port the agent serves on (used when `address` is empty). */
  listenPort?: number;
  datacenter: string;
  labels: Record<string, string>;
  capacity: number;
  /** How many ports the agent hands out (--ports): the control plane places one-offs where one is free. */
  ports?: number;
  version: string;
  /** --process-server: its first registration records web off (docs/process-servers.md). */
  processServer?: boolean;
}

export type LinkState = 'connecting' | 'registered' | 'closed';


export class ControlPlaneLink extends EventEmitter<{
  /** The lease id; whether it is the one held before (what was written under it is still there). */
  registered: [string, boolean];
  'lease-lost': [];
  unreachable: [number];
  reachable: [];
  /** The new replica's address, the old one's. */
  switched: [string, string];
  /** A heartbeat's answer whether the replica packs statuses (status-reporter.ts). */
  packs: [boolean];
  /** The earliest time (uptimeMs) the control plane may count the agent gone: see renewedFrom. */
  renewed: [number];
  /** The control plane refused to register the agent (another live agent holds its id, or what it sends is invalid): why. */
  refused: [string];
}> {
  /** Calls whichever replica is current (a proxy: keep it, it follows failovers). */
  readonly client: AgentApiClient;
  state: LinkState = 'connecting';
  leaseId?: string;
  /** The address the control plane recorded for this agent at the last registration. */
  advertised?: string;
  private timer?: NodeJS.Timeout;
  /** A tick runs (its end schedules the next); tickAgain: the next comes at once. */
  private ticking = false;
  private tickAgain = false;
  /** As the control plane set them at registration. */
  heartbeatMs = 1_000;
  ttlSeconds = 4;
  private unreachableSince?: number;
  /** When the first of the calls failing in a row started (epoch ms). */
  private firstFailedAt?: number;
  private readonly servers: ServerSet<AgentApiClient>;
  private readonly given: string[];
  private readonly replicaSet: ReplicaDiscovery;
  private failuresInRow = 0;
  private readonly refusals: RegistrationRefusals;
  /** Heartbeats more than half a second behind their timer are warned about. */
  private readonly lateness = new HeartbeatLateness(500);
  private readonly heartbeats: HeartbeatStream;
  private readonly left = new ReplicaLeft();
  /** Whether an unreachable replica in fact wants TLS, or another CA: a join is missing, or is of another cluster. */
  private readonly tlsMismatch: TlsMismatchWatch;

  constructor(
    server: string,
    private readonly identity: AgentIdentity,
    private readonly dataDir: string,
    private readonly logApps: () => string[],
    private readonly logger: Logger,
    tls?: StaticCertificateProvider,
    /** The cluster the given replicas belong to (checked at start), when known. */
    expectedClusterId = '',
  ) {
    super();
    this.given = parseServerList(server);
    this.tlsMismatch = new TlsMismatchWatch(logger, tls && (() => caHash(tls.current.caPem)));
    this.refusals = new RegistrationRefusals(logger);
    let remembered = loadReplicas(dataDir);
    // Replicas remembered from another cluster (the data dir was reused) are forgotten.
    if (remembered && expectedClusterId && remembered.clusterId && remembered.clusterId !== expectedClusterId) remembered = undefined;
    const Client = agentProto().AgentApi;
    const options = {
      ...CHANNEL_OPTIONS,
      // redial() must get a fresh connection attempt, not a shared one that is stuck.
      ...OWN_SUBCHANNELS,
      // Reconnect fast after a control-plane restart: the lease TTL is only a few seconds.
      'grpc.initial_reconnect_backoff_ms': 200,
      'grpc.max_reconnect_backoff_ms': 1_000,
    };
    const make = (address: string): AgentApiClient =>
      tls
        ? new Client(address, channelCredentials(tls), { ...options, ...targetName(CONTROL_PLANE_NAME) })
        : new Client(address, grpc.credentials.createInsecure(), options);
    this.servers = new ServerSet<AgentApiClient>([...this.given, ...(remembered?.servers ?? []).filter((s) => !this.given.includes(s))], make);
    this.servers.on('switched', (to, from) => {
      // Status reports still waiting on the replica left are cancelled: one cut off answers
      // nothing (docs/high-availability.md).
      this.left.fire();
      this.emit('switched', to, from);
    });
    this.client = this.servers.proxy;
    this.heartbeats = new HeartbeatStream(this.client);
    this.replicaSet = new ReplicaDiscovery(expectedClusterId || remembered?.clusterId || '', this.client, this.servers, this.given, dataDir, logger);
  }

  /**
   * Aborted when the link next leaves its replica for another: for a call whose retry should go
   * to the new replica at once (status reports) rather than wait out its deadline on one that
   * stopped answering. Not for slug or release fetches: during an etcd outage the link moves on
   * at every heartbeat, while the replica it left may well serve them.
   */
  get replicaLeft(): AbortSignal {
    return this.left.signal;
  }

  /** The replica calls go to now. */
  get currentServer(): string {
    return this.servers.currentAddress;
  }

  /** Every replica known, the current one first. */
  knownServers(): string[] {
    return this.servers.addresses();
  }

  start(): void {
    this.tickInBackground();
  }

  close(): void {
    this.state = 'closed';
    clearTimeout(this.timer);
    this.heartbeats.close();
    this.servers.close();
  }

  /**
   * The last heartbeat, as the agent leaves its instances to its next run: the lease then runs a
   * whole TTL from here, and the control plane may grant a restart hold (`holdMs`, 0: none;
   * docs/agent-handover.md). `alive`: whether the lease was renewed. Never throws.
   */
  async leavingHeartbeat(timeoutMs: number): Promise<{ alive: boolean; holdMs: number }> {
    if (this.state !== 'registered') return { alive: false, holdMs: 0 };
    try {
      const sentAt = uptimeMs();
      const reply = await callUnary(this.client, 'Heartbeat', { agent_id: this.identity.id, lease_id: this.leaseId ?? '', leaving: true }, timeoutMs);
      // The hold's own etcd lease is granted after this heartbeat arrived: it lives at least that long.
      if (reply.alive) this.renewedFrom(sentAt, Math.max(this.ttlSeconds * 1000, reply.hold_ms));
      return { alive: reply.alive, holdMs: reply.alive ? reply.hold_ms : 0 };
    } catch {
      return { alive: false, holdMs: 0 };
    }
  }

  /**
   * The last heartbeat after the agent stopped everything for good (`agent stop --stop-instances`):
   * the control plane ends the lease, so the agent is down, and its instances placed elsewhere, at
   * once instead of a TTL later. Heartbeats stop first, so none registers the agent again.
   * Whether the control plane took it; never throws (the lease then runs out as before).
   */
  async stoppedHeartbeat(timeoutMs: number): Promise<boolean> {
    if (this.state !== 'registered') return false;
    const request = { agent_id: this.identity.id, lease_id: this.leaseId ?? '', stopped: true };
    this.state = 'closed';
    clearTimeout(this.timer);
    this.heartbeats.close();
    try {
      const reply = await callUnary(this.client, 'Heartbeat', request, timeoutMs);
      return !reply.alive;
    } catch {
      return false;
    }
  }

  /**
   * A call sent at `sentAt` (uptimeMs) renewed the lease, or granted one: etcd renewed it after
   * that, so the control plane cannot count the agent gone, and place its instances elsewhere,
   * until `forMs` later. Told to the watchdog (`renewed`), which has the processes killed before then.
   */
  private renewedFrom(sentAt: number | undefined, forMs: number): void {
    if (sentAt !== undefined) this.emit('renewed', sentAt + forMs);
  }

  /**
   * Called when a heartbeat or a report says the lease is gone: register again at once. There is
   * one tick loop: a tick in progress registers right after it ends instead of a second loop.
   * `leaseId`: the lease the answer was about; an answer about an earlier lease (a report sent
   * before the agent registered again) says nothing of the current one.
   */
  leaseLost(leaseId: string): void {
    if (this.state !== 'registered' || leaseId !== this.leaseId) return;
    this.logger.warn({ leaseId: this.leaseId }, 'lease lost: registering again; instances no longer owned will be stopped');
    this.state = 'connecting';
    this.leaseId = undefined;
    this.emit('lease-lost');
    this.tickInBackground();
  }

  /**
   * Runs a tick nobody waits for, then schedules the next: the only place that does, so there is
   * never more than one loop. Called while a tick runs, it makes the next tick come at once.
   * tick() handles the failures it expects (the control plane unreachable); anything else is
   * logged and the loop goes on: the lease depends on it.
   */
  private tickInBackground(): void {
    if (this.state === 'closed') return;
    if (this.ticking) {
      this.tickAgain = true;
      return;
    }
    clearTimeout(this.timer);
    this.ticking = true;
    this.tick().then(
      (delay) => this.scheduleTick(delay),
      (err: unknown) => {
        this.logger.error({ err }, 'bug: a heartbeat tick failed; next one in a heartbeat interval');
        this.scheduleTick(this.heartbeatMs);
      },
    );
  }

  private scheduleTick(delay: number): void {
    this.ticking = false;
    if (this.state === 'closed') return;
    if (this.tickAgain) delay = 0;
    this.tickAgain = false;
    this.lateness.due(this.state === 'registered' ? Date.now() + delay : undefined);
    this.timer = setTimeout(() => this.tickInBackground(), delay);
  }

  /** One heartbeat or registration; how long until the next. */
  private async tick(): Promise<number> {
    const startedAt = Date.now();
    const late = this.lateness.started(startedAt);
    if (late !== undefined) {
      this.logger.warn(
        { lateMs: late.lateMs, ttlSeconds: this.ttlSeconds, moreLateSinceLastWarning: late.unreported },
        "heartbeat sent late: the agent's event loop was busy or the agent was paused (a lease not renewed within its TTL is lost, and the agent's instances are placed again)",
      );
    }
    let retrySoon = false;
    try {
      if (this.replicaSet.currentUnchecked) await this.replicaSet.refresh(this.deadlineMs(), true);
      if (this.state === 'connecting') await this.register();
      else await this.heartbeat();
      this.failuresInRow = 0;
      this.firstFailedAt = undefined;
      if (this.unreachableSince !== undefined) {
        this.logger.info({ downMs: Date.now() - this.unreachableSince, server: this.currentServer }, 'control plane reachable again');
        this.unreachableSince = undefined;
        this.emit('reachable');
      }
      if (this.replicaSet.due) await this.replicaSet.refresh(this.deadlineMs());
    } catch (err) {
      if ((this.state as LinkState) === 'closed') return 0;
      // Refused (registration-refusals.ts): the control plane answers, so this is no outage.
      const refused = this.state === 'connecting' ? this.refusals.refused(err, this.currentServer) : undefined;
      if (refused) {
        this.emit('refused', refused.why);
        return refused.retryMs;
      }
      const failed = this.currentServer;
      this.failuresInRow += 1;
      this.firstFailedAt ??= startedAt;
      if (isReplicaFailure(err)) this.tlsMismatch.failed(failed);
      // No answer in time: the connection may be stalled, or a connection attempt waiting on TCP's
      // backoff, long after the network is back; the next call there dials afresh (fresh-channel.ts).
      if ((err as { code?: unknown }).code === grpc.status.DEADLINE_EXCEEDED) this.servers.redial(failed);
      if (isReplicaFailure(err) || err instanceof ForeignReplicaError) {
        const next = this.servers.switchAway();
        if (next !== failed) {
          // Said once an outage: while every replica is away the link switches every deadline.
          const level = this.unreachableSince === undefined ? 'warn' : 'debug';
          this.logger[level]({ from: failed, to: next, err: (err as Error).message }, 'control-plane replica unreachable: switching');
          // The next replica at once (the lease must be renewed within its TTL), until every one was tried.
          retrySoon = this.failuresInRow < this.knownServers().length;
        }
      }
      if (this.unreachableSince === undefined && !retrySoon) {
        // Since the first call that failed, not since every replica was tried (a deadline each):
        // the disconnected grace counts from there (disconnect-guard.ts).
        this.unreachableSince = this.firstFailedAt;
        this.logger.warn({ err: (err as Error).message, servers: this.knownServers() }, 'control plane unreachable; retrying (instances keep running unless --disconnected-grace says otherwise)');
        this.emit('unreachable', this.unreachableSince);
      }
    }
    // Registering again is jittered: after a control-plane restart, agents must not all call at once.
    // Heartbeats go out every heartbeatMs from start to start: a slow answer (a busy control
    // plane or agent) must not stretch the gap between renewals toward the lease TTL.
    return retrySoon ? 50 : this.state === 'connecting' ? jittered(500) : Math.max(0, this.heartbeatMs - (Date.now() - startedAt));
  }

  /** A deadline that leaves time to try another replica before the lease expires. */
  private deadlineMs(): number {
    if (this.knownServers().length < 2) return DEFAULT_DEADLINE_MS;
    return Math.max(1_000, (this.ttlSeconds * 1000) / 3);
  }

  private async register(): Promise<void> {
    const previousLease = readSavedLease(this.dataDir);
    const sentAt = uptimeMs();
    const reply = await callUnary(this.client, 'Register', {
      agent_id: this.identity.id,
      address: this.identity.address,
      listen_port: this.identity.address ? 0 : this.identity.listenPort ?? 0,
      datacenter: this.identity.datacenter,
      labels: this.identity.labels,
      capacity: this.identity.capacity,
      ports: this.identity.ports ?? 0,
      version: this.identity.version,
      previous_lease_id: previousLease,
      log_apps: this.logApps(),
      process_server: this.identity.processServer === true,
    }, this.deadlineMs());
    if ((this.state as LinkState) === 'closed') return;
    this.leaseId = reply.lease_id;
    this.heartbeatMs = Math.max(100, reply.heartbeat_ms || 1_000);
    this.ttlSeconds = reply.ttl_seconds > 0 ? reply.ttl_seconds : this.ttlSeconds;
    this.advertised = reply.address || this.identity.address;
    this.state = 'registered';
    saveLease(this.dataDir, reply.lease_id, this.logger);
    this.refusals.registered();
    this.logger.info({ leaseId: reply.lease_id, ttlSeconds: reply.ttl_seconds, server: this.currentServer, advertised: this.advertised }, 'registered with the control plane');
    this.emit('registered', reply.lease_id, previousLease !== '' && reply.lease_id === previousLease);
    this.renewedFrom(sentAt, this.ttlSeconds * 1000);
  }

  private async heartbeat(): Promise<void> {
    const leaseId = this.leaseId ?? '';
    const sentAt = uptimeMs();
    const reply = await this.heartbeats.beat(this.currentServer, { agent_id: this.identity.id, lease_id: leaseId }, this.deadlineMs());
    if (!reply.alive) return this.leaseLost(leaseId);
    this.renewedFrom(sentAt, this.ttlSeconds * 1000);
    this.emit('packs', reply.packsApps);
  }
}
