/**
 * The agent's connection to the control plane: registers under an etcd lease (kept
 * across agent restarts when still alive), heartbeats, and re-registers when told the
 * lease is gone. The agent always dials out; an unreachable control plane is retried
 * forever and never stops running instances.
 */
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { agentProto, CHANNEL_OPTIONS } from '../../proto/load';
import type { AgentApiClient } from '../../proto/gen/cluster/agent/AgentApi';
import type { Logger } from '../../lib/log';
import { callUnary } from '../../lib/grpc-call';
import { CONTROL_PLANE_NAME } from '../../lib/pki';
import { channelCredentials, targetName, type StaticCertificateProvider } from '../../lib/tls';

export interface AgentIdentity {
  id: string;
  address: string;
  datacenter: string;
  labels: Record<string, string>;
  capacity: number;
  version: string;
}

export type LinkState = 'connecting' | 'registered' | 'closed';

export class ControlPlaneLink extends EventEmitter<{ registered: [string]; 'lease-lost': []; unreachable: [number]; reachable: [] }> {
  readonly client: AgentApiClient;
  state: LinkState = 'connecting';
  leaseId?: string;
  private timer?: NodeJS.Timeout;
  /** As the control plane set them at registration. */
  heartbeatMs = 1_000;
  ttlSeconds = 0;
  private unreachableSince?: number;
  private readonly leaseFile: string;

  constructor(
    server: string,
    private readonly identity: AgentIdentity,
    dataDir: string,
    private readonly logApps: () => string[],
    private readonly logger: Logger,
    tls?: StaticCertificateProvider,
  ) {
    super();
    this.leaseFile = path.join(dataDir, 'lease.json');
    const Client = agentProto().AgentApi;
    const options = {
      ...CHANNEL_OPTIONS,
      // Reconnect fast after a control-plane restart: the lease TTL is only a few seconds.
      'grpc.initial_reconnect_backoff_ms': 200,
      'grpc.max_reconnect_backoff_ms': 1_000,
    };
    this.client = tls
      ? new Client(server, channelCredentials(tls), { ...options, ...targetName(CONTROL_PLANE_NAME) })
      : new Client(server, grpc.credentials.createInsecure(), options);
  }

  start(): void {
    void this.tick();
  }

  close(): void {
    this.state = 'closed';
    clearTimeout(this.timer);
    this.client.close();
  }

  /**
   * One heartbeat now (before a hand-over: the lease then runs a whole TTL from here); whether
   * the lease was renewed. Never throws.
   */
  async heartbeatNow(timeoutMs: number): Promise<boolean> {
    if (this.state !== 'registered') return false;
    try {
      const reply = await callUnary(this.client, 'Heartbeat', { agent_id: this.identity.id, lease_id: this.leaseId ?? '' }, timeoutMs);
      return reply.alive;
    } catch {
      return false;
    }
  }

  /** Called when a report says the lease is gone: register again at once. */
  leaseLost(): void {
    if (this.state !== 'registered') return;
    this.logger.warn({ leaseId: this.leaseId }, 'lease lost: registering again; instances no longer owned will be stopped');
    this.state = 'connecting';
    this.leaseId = undefined;
    this.emit('lease-lost');
    clearTimeout(this.timer);
    void this.tick();
  }

  private async tick(): Promise<void> {
    if (this.state === 'closed') return;
    try {
      if (this.state === 'connecting') await this.register();
      else await this.heartbeat();
      if (this.unreachableSince !== undefined) {
        this.logger.info({ downMs: Date.now() - this.unreachableSince }, 'control plane reachable again');
        this.unreachableSince = undefined;
        this.emit('reachable');
      }
    } catch (err) {
      if (this.unreachableSince === undefined) {
        this.unreachableSince = Date.now();
        this.logger.warn({ err: (err as Error).message }, 'control plane unreachable; retrying (instances keep running unless --disconnected-grace says otherwise)');
        this.emit('unreachable', this.unreachableSince);
      }
    }
    const state = this.state as LinkState; // awaits above may have closed the link
    if (state !== 'closed') {
      this.timer = setTimeout(() => void this.tick(), state === 'connecting' ? 500 : this.heartbeatMs);
    }
  }

  private async register(): Promise<void> {
    const reply = await callUnary(this.client, 'Register', {
      agent_id: this.identity.id,
      address: this.identity.address,
      datacenter: this.identity.datacenter,
      labels: this.identity.labels,
      capacity: this.identity.capacity,
      version: this.identity.version,
      previous_lease_id: this.readSavedLease(),
      log_apps: this.logApps(),
    });
    if ((this.state as LinkState) === 'closed') return;
    this.leaseId = reply.lease_id;
    this.heartbeatMs = Math.max(100, reply.heartbeat_ms || 1_000);
    this.ttlSeconds = reply.ttl_seconds;
    this.state = 'registered';
    this.saveLease(reply.lease_id);
    this.logger.info({ leaseId: reply.lease_id, ttlSeconds: reply.ttl_seconds }, 'registered with the control plane');
    this.emit('registered', reply.lease_id);
  }

  private async heartbeat(): Promise<void> {
    const reply = await callUnary(this.client, 'Heartbeat', { agent_id: this.identity.id, lease_id: this.leaseId ?? '' });
    if (!reply.alive) this.leaseLost();
  }

  private readSavedLease(): string {
    try {
      const saved = JSON.parse(fs.readFileSync(this.leaseFile, 'utf8')) as { leaseId?: unknown };
      return typeof saved.leaseId === 'string' ? saved.leaseId : '';
    } catch {
      return '';
    }
  }

  private saveLease(leaseId: string): void {
    try {
      fs.writeFileSync(this.leaseFile, JSON.stringify({ leaseId }), { mode: 0o600 });
    } catch (err) {
      this.logger.warn({ err }, 'could not save the lease id; a restart will wait for the old lease to expire');
    }
  }
}
