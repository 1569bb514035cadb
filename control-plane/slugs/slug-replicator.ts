/**
 * Slugs on every replica. A deploy stores its slug on the replica that received it, which
 * then asks every other live replica to pull it before the deploy returns; a replica asked
 * for a slug it lacks (or whose copy is corrupt) pulls it from a holder first. Every copy
 * is checked against its sha256 before it is stored and before it is served.
 */
import type { Logger } from '../../lib/log';
import { NotFoundError } from '../errors';
import type { SlugHolders } from './slug-holders';
import { transferDeadlineMs, type SlugPeers } from './slug-peers';
import type { SlugStore } from './slug-store';

/** The live control-plane replicas (the replica registry), as this module needs them. */
export interface ReplicaSet {
  readonly selfId: string;
  list(): Array<{ id: string; address: string }>;
}

/** What copying a new slug to the other replicas achieved. */
export interface ReplicationResult {
  /** Replicas that hold it now (this one excluded). */
  copied: string[];
  failed: Array<{ replicaId: string; error: string }>;
}

export interface SlugReplicatorDeps {
  store: SlugStore;
  holders: SlugHolders;
  peers: SlugPeers;
  replicas: ReplicaSet;
  /** This replica's address as the others dial it. */
  selfAddress: string;
  logger: Logger;
}

export class SlugReplicator {
  private readonly pulls = new Map<string, Promise<boolean>>();

  constructor(private readonly deps: SlugReplicatorDeps) {}

  get store(): SlugStore {
    return this.deps.store;
  }

  /**
   * A verified local copy of `digest`, pulled from another replica first when this one
   * lacks it or its copy does not match. Throws NotFoundError when no replica has it.
   */
  async local(digest: string): Promise<{ path: string; size: number }> {
    const first = await this.checked(digest);
    if (first.state === 'ok') return first;
    await this.pull(digest, []);
    const second = await this.checked(digest);
    if (second.state === 'ok') return second;
    throw new NotFoundError(`slug ${digest} is not stored on any live control-plane replica`);
  }

  /**
   * Stores `digest` here unless a verified copy exists: fetched from `sources`, then from
   * recorded holders, then from any live replica. Returns whether a copy was here already.
   * Concurrent calls for one digest share one transfer.
   */
  pull(digest: string, sources: string[], size = 0): Promise<boolean> {
    let pending = this.pulls.get(digest);
    if (!pending) {
      pending = this.pullOnce(digest, sources, size).finally(() => this.pulls.delete(digest));
      this.pulls.set(digest, pending);
    }
    return pending;
  }

  /**
   * After a deploy stored `digest` here: records this replica as a holder and has every other
   * live replica pull it from here. A replica that fails is logged and left to catch up
   * (on demand or by the background sync): the deploy is not failed for it.
   */
  async replicate(digest: string, size: number): Promise<ReplicationResult> {
    await this.deps.holders.announce(digest);
    const peers = this.deps.replicas.list().filter((r) => r.id !== this.deps.replicas.selfId && r.address !== this.deps.selfAddress);
    const result: ReplicationResult = { copied: [], failed: [] };
    await Promise.all(peers.map(async (peer) => {
      try {
        await this.deps.peers.askToPull(peer.address, digest, [this.deps.selfAddress], size, transferDeadlineMs(size) * 2);
        result.copied.push(peer.id);
      } catch (err) {
        result.failed.push({ replicaId: peer.id, error: (err as Error).message });
      }
    }));
    const log = { slug: digest, bytes: size, copied: result.copied, failed: result.failed };
    if (result.failed.length > 0) this.deps.logger.warn(log, 'slug not copied to every replica; they will fetch it when asked');
    else this.deps.logger.info(log, 'slug copied to every live replica');
    return result;
  }

  /**
   * GC: deletes the slug here unless its file was written after `notAfterMs`, and then this
   * replica's holder record. Returns whether it was deleted.
   */
  async collect(digest: string, notAfterMs: number): Promise<boolean> {
    if (!(await this.deps.store.removeIfUnchangedSince(digest, notAfterMs))) return false;
    await this.deps.holders.withdraw(digest);
    return true;
  }

  /** Forgets a slug here: this replica's holder record, then the file. */
  async drop(digest: string): Promise<void> {
    await this.deps.holders.withdraw(digest);
    await this.deps.store.remove(digest);
  }

  /** After a copy failed its check while being sent: no longer a holder. */
  async corrupted(digest: string): Promise<void> {
    this.deps.logger.error({ slug: digest }, 'stored slug does not match its digest: removed');
    await this.drop(digest).catch((err: unknown) => this.deps.logger.warn({ err, slug: digest }, 'withdrawing a corrupt slug failed'));
  }

  /** The store's check, with a corrupt copy reported and withdrawn. */
  private async checked(digest: string): Promise<{ state: 'ok'; path: string; size: number } | { state: 'missing' }> {
    const check = await this.deps.store.check(digest);
    if (check.state !== 'corrupt') return check;
    this.deps.logger.error({ slug: digest, actual: check.actual }, 'stored slug does not match its digest: removed, fetching another copy');
    await this.deps.holders.withdraw(digest).catch(() => undefined);
    return { state: 'missing' };
  }

  private async pullOnce(digest: string, sources: string[], size: number): Promise<boolean> {
    if ((await this.checked(digest)).state === 'ok') {
      await this.deps.holders.announce(digest);
      return true;
    }
    const candidates = await this.candidates(digest, sources);
    const errors: string[] = [];
    for (const address of candidates) {
      const started = Date.now();
      try {
        const bytes = await this.deps.peers.fetchInto(address, digest, this.deps.store.receive(digest), transferDeadlineMs(size));
        await this.deps.holders.announce(digest);
        this.deps.logger.info({ slug: digest, from: address, bytes, ms: Date.now() - started }, 'slug fetched from another replica');
        return false;
      } catch (err) {
        errors.push(`${address}: ${(err as Error).message}`);
        this.deps.logger.warn({ slug: digest, from: address, err: (err as Error).message }, 'fetching slug from a replica failed; trying the next');
      }
    }
    const tried = errors.length > 0 ? ` (tried ${errors.join('; ')})` : ' (no other replica holds it)';
    throw new NotFoundError(`slug ${digest} is not stored on any live control-plane replica${tried}`);
  }

  /** Addresses to fetch from, best first: the given sources, recorded holders, other live replicas. */
  private async candidates(digest: string, sources: string[]): Promise<string[]> {
    const out = new Set<string>(sources);
    try {
      for (const holder of await this.deps.holders.holders(digest)) out.add(holder.address);
    } catch (err) {
      this.deps.logger.warn({ slug: digest, err: (err as Error).message }, 'reading slug holders failed; asking every replica');
    }
    for (const replica of this.deps.replicas.list()) {
      if (replica.id !== this.deps.replicas.selfId) out.add(replica.address);
    }
    out.delete(this.deps.selfAddress);
    return [...out];
  }
}
