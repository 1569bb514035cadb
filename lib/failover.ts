/**
 * One gRPC client per control-plane replica and a "current" one that callers use through
 * a proxy: `switchAway()` moves every caller to the next replica at once (the proxy reads
 * the current client on every method call), `learn()` adds the replicas a control plane
 * reported. Clients are made lazily and kept, so returning to a replica reuses its channel,
 * until `redial()` replaces one that stopped answering.
 */
import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { mergeServers } from './server-list';
import { oldEnoughToReplace } from './fresh-channel';

/** Codes that mean "this replica cannot answer", not "the request is wrong". */
export function isReplicaFailure(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  return code === grpc.status.UNAVAILABLE || code === grpc.status.DEADLINE_EXCEEDED;
}

export class ServerSet<C extends grpc.Client> extends EventEmitter<{ switched: [string, string] }> {
  private servers: string[];
  private index = 0;
  private readonly clients = new Map<string, C>();
  /** When each client was made (epoch ms). */
  private readonly madeAt = new Map<string, number>();
  private closed = false;
  /** Calls every method on the current client: hand this to everything that talks to the control plane. */
  readonly proxy: C;

  constructor(given: readonly string[], private readonly make: (address: string) => C) {
    super();
    if (given.length === 0) throw new Error('no control-plane address given');
    this.servers = [...given];
    this.proxy = new Proxy({} as C, {
      get: (_target, prop) => {
        const client = this.current as unknown as Record<string | symbol, unknown>;
        const value = client[prop];
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(client) : value;
      },
    });
  }

  get currentAddress(): string {
    return this.servers[this.index]!;
  }

  get current(): C {
    const address = this.currentAddress;
    let client = this.clients.get(address);
    if (!client) {
      client = this.make(address);
      this.clients.set(address, client);
      this.madeAt.set(address, Date.now());
    }
    return client;
  }

  /** Every known address, the current one first. */
  addresses(): string[] {
    return [...this.servers.slice(this.index), ...this.servers.slice(0, this.index)];
  }

  /** Moves to the next known replica (no-op with only one); returns the new address. */
  switchAway(): string {
    if (this.servers.length < 2 || this.closed) return this.currentAddress;
    const from = this.currentAddress;
    this.index = (this.index + 1) % this.servers.length;
    this.emit('switched', this.currentAddress, from);
    return this.currentAddress;
  }

  /**
   * Closes the client of `address` so that the next call there dials afresh: for a replica that
   * did not answer in time, whose connection may be stalled or whose connection attempt may wait
   * on TCP's backoff long after the network is back (fresh-channel.ts). Not for a client made
   * less than FRESH_CHANNEL_MIN_AGE_MS ago. Calls under way on it go on. Whether it was closed.
   */
  redial(address: string, now = Date.now()): boolean {
    const client = this.clients.get(address);
    if (!client || !oldEnoughToReplace(this.madeAt.get(address) ?? 0, now)) return false;
    client.close();
    this.clients.delete(address);
    this.madeAt.delete(address);
    return true;
  }

  /** Makes `address` current if known (e.g. the one that answered a probe). */
  prefer(address: string): void {
    const i = this.servers.indexOf(address);
    if (i < 0 || i === this.index) return;
    const from = this.currentAddress;
    this.index = i;
    this.emit('switched', address, from);
  }

  /**
   * Adds the replicas a control plane reported, after those known; keeps `keep` (the
   * addresses the user gave) even when the report does not name them, and forgets learned
   * ones that are no longer reported (their clients are closed).
   */
  learn(reported: readonly string[], keep: readonly string[]): boolean {
    const current = this.currentAddress;
    const next = mergeServers([current], keep, reported);
    const same = next.length === this.servers.length && next.every((s) => this.servers.includes(s));
    if (same) return false;
    for (const [address, client] of this.clients) {
      if (!next.includes(address)) {
        client.close();
        this.clients.delete(address);
        this.madeAt.delete(address);
      }
    }
    this.servers = next;
    this.index = 0;
    return true;
  }

  close(): void {
    this.closed = true;
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
    this.madeAt.clear();
  }
}
