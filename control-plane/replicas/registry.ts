/**
 * The replica set: every control-plane replica registers `replicas/<id>` with its
 * advertised gRPC address under a lease of its own, and keeps a watched copy of everyone's
 * registration. Clients (agents, the CLI) ask any replica for this list to fail over.
 *
 * A replica that dies (even SIGKILL) drops out of the list once its lease expires
 * (`ttlSeconds`); a clean close() revokes the lease so it leaves at once.
 */
import { EventEmitter } from 'node:events';
import * as crypto from 'node:crypto';
import * as os from 'node:os';
import type { Etcd3, Lease } from 'etcd3';
import type { Logger } from '../../lib/log';
import type { Keys } from '../keys';
import { PrefixMirror } from '../etcd/mirror';
import { jittered } from '../../lib/retry-delay';

export interface ReplicaInfo {
  id: string;
  /** HOST:PORT clients dial. */
  address: string;
  version: string;
  /** ISO 8601. */
  startedAt: string;
  /** What this replica's version can read that older ones cannot (REPLICA_FEATURES). */
  features: string[];
}

/**
 * Layouts this version reads, which a replica may write only once every replica reads them:
 * during a rolling upgrade an older replica, which does not, may lead or answer `ps`.
 * `packed-statuses`: an agent's statuses of one app in one value (state/packed-statuses.ts).
 * `packed-assignments`: the instances of one app placed on one agent in one value
 * (state/packed-assignments.ts).
 * `restart-holds`: a leader that keeps an agent's instances while its restart hold lives
 * (leader/agent-liveness.ts): an older leader would move them while the agent's watchdog still
 * keeps them running for the hold.
 */
export const REPLICA_FEATURES = ['packed-statuses', 'packed-assignments', 'restart-holds'] as const;
export type ReplicaFeature = (typeof REPLICA_FEATURES)[number];

export interface ReplicaRegistryOptions {
  address: string;
  version: string;
  /** Default: `<hostname>-<pid>-<random>`. */
  id?: string;
  /** Lease TTL in seconds (default 5). */
  ttlSeconds?: number;
  logger: Logger;
}

const RETRY_MS = 1_000;

/** A replica id: safe as one etcd key segment. */
export function newReplicaId(): string {
  const host = os.hostname().replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 40) || 'replica';
  return `${host}-${process.pid}-${crypto.randomBytes(3).toString('hex')}`;
}

export class ReplicaRegistry extends EventEmitter<{ change: [ReplicaInfo[]] }> {
  readonly selfId: string;
  /** Names the cluster: its etcd cluster id and key prefix, hashed. Equal on every replica of one cluster. */
  clusterId = '';
  private readonly self: ReplicaInfo;
  private lease?: Lease;
  private retryTimer?: NodeJS.Timeout;
  private closed = false;
  private lastSignature = '';
  /** everyReplicaReads's answers, until the set changes. */
  private readonly readByAll = new Map<ReplicaFeature, boolean>();

  private constructor(
    private readonly client: Etcd3,
    private readonly keys: Keys,
    private readonly mirror: PrefixMirror,
    private readonly opts: ReplicaRegistryOptions,
  ) {
    super();
    this.selfId = opts.id ?? newReplicaId();
    this.self = { id: this.selfId, address: opts.address, version: opts.version, startedAt: new Date().toISOString(), features: [...REPLICA_FEATURES] };
    mirror.on('change', () => this.noteChange());
    mirror.on('resync', () => this.noteChange());
  }

  /** Registers this replica and starts watching the others. */
  static async start(client: Etcd3, keys: Keys, opts: ReplicaRegistryOptions): Promise<ReplicaRegistry> {
    if (!/^[^\s/]+:\d{1,5}$/.test(opts.address) && !/^\[[0-9a-fA-F:.]+\]:\d{1,5}$/.test(opts.address)) {
      throw new Error(`replica address ${JSON.stringify(opts.address)} is not HOST:PORT`);
    }
    const mirror = await PrefixMirror.open(client, keys.replicas(), opts.logger);
    const registry = new ReplicaRegistry(client, keys, mirror, opts);
    try {
      const status = await client.maintenance.status();
      registry.clusterId = crypto.createHash('sha256').update(`${status.header.cluster_id}\n${keys.prefix}`).digest('hex').slice(0, 16);
      await registry.register();
    } catch (err) {
      await registry.close();
      throw err;
    }
    registry.noteChange();
    return registry;
  }

  /** The live replicas, this one included, ordered by id. */
  list(): ReplicaInfo[] {
    const byId = new Map<string, ReplicaInfo>();
    for (const [key, entry] of this.mirror.entries) {
      const parsed = parseReplica(entry.value);
      const id = this.keys.after(key, this.keys.replicas());
      if (parsed && id === parsed.id) byId.set(parsed.id, parsed);
    }
    // Between a lost lease and the re-registration this replica is still serving.
    if (!this.closed) byId.set(this.selfId, this.self);
    return [...byId.values()].sort((a, b) => a.id.localeCompare(b.id));
  }

  /** Whether every live replica reads `feature`: asked on every status report, so remembered. */
  everyReplicaReads(feature: ReplicaFeature): boolean {
    let answer = this.readByAll.get(feature);
    if (answer === undefined) {
      answer = this.list().every((r) => r.features.includes(feature));
      this.readByAll.set(feature, answer);
    }
    return answer;
  }

  /** Leaves the set at once (revokes the lease: client.close() alone would keep it alive). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.retryTimer);
    const lease = this.lease;
    this.lease = undefined;
    await lease?.revoke().catch(() => undefined);
    await this.mirror.close();
  }

  private async register(): Promise<void> {
    const lease = this.client.lease(this.opts.ttlSeconds ?? 5, { autoKeepAlive: true });
    this.lease = lease;
    lease.on('lost', (err) => {
      if (this.closed || this.lease !== lease) return;
      this.opts.logger.warn({ err }, 'replica lease lost: registering again');
      this.lease = undefined;
      this.scheduleRetry();
    });
    try {
      await lease.put(this.keys.replica(this.selfId)).value(JSON.stringify(this.self));
    } catch (err) {
      this.lease = undefined;
      await lease.revoke().catch(() => undefined);
      throw err;
    }
    // close() may have run meanwhile: a lease it did not see would keep the process alive.
    if (this.closed) await lease.revoke().catch(() => undefined);
  }

  private scheduleRetry(): void {
    if (this.closed) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.register().catch((err: unknown) => {
        this.opts.logger.warn({ err }, 'replica registration failed; retrying');
        this.scheduleRetry();
      });
    }, jittered(RETRY_MS));
  }

  private noteChange(): void {
    this.readByAll.clear();
    const list = this.list();
    const signature = list.map((r) => `${r.id}=${r.address}`).join(',');
    if (signature === this.lastSignature) return;
    this.lastSignature = signature;
    this.emit('change', list);
  }
}

function parseReplica(value: Buffer | string): ReplicaInfo | undefined {
  try {
    const v = JSON.parse(value.toString()) as Partial<ReplicaInfo>;
    if (typeof v.id !== 'string' || typeof v.address !== 'string') return undefined;
    const features = Array.isArray(v.features) ? v.features.filter((f): f is string => typeof f === 'string') : [];
    return { id: v.id, address: v.address, version: String(v.version ?? ''), startedAt: String(v.startedAt ?? ''), features };
  } catch {
    return undefined;
  }
}
