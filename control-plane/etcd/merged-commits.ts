/**
 * Commits many small guarded writes (each agent's status report, guarded by its lease) merged
 * into few etcd transactions: each write becomes one or more nested transactions carrying its own
 * guard inside one wide transaction (batch.ts), so a write whose guard fails is skipped without
 * failing the others, and each caller is answered only once its own write is committed.
 *
 * Writes wait at most `windowMs` for others to join them, and while `maxInFlight` merged
 * transactions (one by default) are already under way they wait for one to finish: under load the queue, and so
 * each transaction, grows on its own. Measured against etcd 3.4 (100k status puts, 60 per report,
 * docs/stack-notes.md): merging 8 reports a transaction halved the wall time and took ~35 % of
 * etcd's CPU and ~60 % of the caller's off.
 *
 * A write too large to share a transaction (over half of one) is committed on its own, in
 * chunks, as commitInChunks does. When a merged transaction fails for any reason but an
 * unreachable etcd, each of its writes is tried again alone: one bad write must not fail others.
 */
import type { Etcd3 } from 'etcd3';
import type { ICompare, IRequestOp } from 'etcd3/lib/rpc';
import { commitInChunks, MAX_NESTED_TXNS, MAX_TXN_BYTES, MAX_TXN_OPS, NESTED_TXN_OPS, opBytes, txnOps, type WriteOp } from './batch';
import { isUnreachable } from './client';
import { EtcdUnavailableError } from '../errors';

export interface MergedCommitsOptions {
  /** How long a write waits for others before a transaction is started (ms). */
  windowMs?: number;
  /** Merged transactions under way at once. */
  maxInFlight?: number;
}

interface Pending {
  guard: ICompare[];
  ops: WriteOp[];
  keys: string[];
  bytes: number;
  /** Nested transactions it takes. */
  nested: number;
  /** True once its caller gave up (its call was cancelled or timed out): then it is not sent. */
  abandoned?: () => boolean;
  resolve: (committed: boolean) => void;
  reject: (err: unknown) => void;
}

const DEFAULT_WINDOW_MS = 2;
/**
 * One at a time (the next gathers all that arrived meanwhile): more would lengthen etcd's queue
 * of writes to apply, which every lease keepalive waits behind (docs/stack-notes.md, "etcd").
 */
const DEFAULT_MAX_IN_FLIGHT = 1;

export class MergedCommits {
  private readonly queue: Pending[] = [];
  private inFlight = 0;
  private timer?: NodeJS.Timeout;
  private readonly windowMs: number;
  private readonly maxInFlight: number;
  /** Transactions and writes committed, and writes dropped unsent (for tests and metrics). */
  readonly stats = { transactions: 0, writes: 0, alone: 0, abandoned: 0 };

  constructor(private readonly client: Etcd3, opts: MergedCommitsOptions = {}) {
    this.windowMs = opts.windowMs ?? DEFAULT_WINDOW_MS;
    this.maxInFlight = opts.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
  }

  /**
   * Commits `ops` atomically if every compare of `guard` holds. Resolves true once committed,
   * false when the guard failed (nothing written); rejects when etcd failed or refused.
   * `ops` must not name one key twice. A write still queued when `abandoned()` says its caller
   * gave up is dropped unsent (rejected): in a slow etcd, an agent whose report timed out sends
   * its statuses again, and the stale copy would only lengthen the queue.
   */
  commit(guard: ICompare[], ops: WriteOp[], abandoned?: () => boolean): Promise<boolean> {
    if (ops.length === 0) return Promise.resolve(true);
    const bytes = ops.reduce((sum, op) => sum + opBytes(op), 0);
    const nested = Math.ceil(ops.length / NESTED_TXN_OPS);
    const hasRange = ops.some((op) => 'delete' in op && op.prefix === true);
    if (2 * bytes > MAX_TXN_BYTES || 2 * nested > MAX_NESTED_TXNS || guard.length > MAX_TXN_OPS - MAX_NESTED_TXNS - NESTED_TXN_OPS || hasRange) {
      this.stats.alone++;
      return commitInChunks(this.client, ops, guard).then((revision) => revision !== undefined);
    }
    return new Promise<boolean>((resolve, reject) => {
      const keys = ops.map((op) => ('put' in op ? op.put : op.delete));
      this.queue.push({ guard, ops, keys, bytes, nested, abandoned, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.timer || this.inFlight >= this.maxInFlight || this.queue.length === 0) return;
    this.timer = setTimeout(() => {
      // After the I/O that is waiting now: a caller's cancellation may be in it. A replica that
      // resumes after a freeze runs its due timers before it reads what came meanwhile, and
      // would send a report its agent gave up on (and sent to another replica since) after the
      // newer one.
      setImmediate(() => {
        this.timer = undefined;
        this.startOne();
        this.schedule();
      });
    }, this.windowMs);
  }

  /** Takes what fits in one transaction off the queue (in order) and commits it. */
  private startOne(): void {
    if (this.inFlight >= this.maxInFlight || this.queue.length === 0) return;
    const batch: Pending[] = [];
    const keys = new Set<string>();
    let bytes = 0;
    let nested = 0;
    for (let i = 0; i < this.queue.length; ) {
      const w = this.queue[i]!;
      if (w.abandoned?.()) {
        this.queue.splice(i, 1);
        this.stats.abandoned++;
        w.reject(new EtcdUnavailableError('write dropped unsent: its caller gave up waiting'));
        continue;
      }
      const fits = nested + w.nested <= MAX_NESTED_TXNS && bytes + w.bytes <= MAX_TXN_BYTES && !w.keys.some((k) => keys.has(k));
      if (!fits) {
        // A later write of the same key waits for the next transaction, after this one.
        if (nested + w.nested > MAX_NESTED_TXNS || bytes + w.bytes > MAX_TXN_BYTES) break;
        // So do newer writes of any key this one writes: none may land before it.
        for (const k of w.keys) keys.add(k);
        i++;
        continue;
      }
      this.queue.splice(i, 1);
      batch.push(w);
      for (const k of w.keys) keys.add(k);
      bytes += w.bytes;
      nested += w.nested;
    }
    if (batch.length === 0) return;
    this.inFlight++;
    this.run(batch)
      // Whatever failed unexpectedly fails the writes still waiting (a settled one stays settled).
      .catch((err: unknown) => {
        for (const w of batch) w.reject(err);
      })
      .finally(() => {
        this.inFlight--;
        this.schedule();
      });
  }

  private async run(batch: Pending[]): Promise<void> {
    if (batch.length === 1) return this.alone(batch[0]!);
    const success: IRequestOp[] = [];
    const firstOf: number[] = [];
    for (const w of batch) {
      firstOf.push(success.length);
      for (let i = 0; i < w.ops.length; i += NESTED_TXN_OPS) {
        success.push({ request_txn: { compare: w.guard, success: txnOps(w.ops.slice(i, i + NESTED_TXN_OPS)), failure: [] } });
      }
    }
    let responses: Array<{ response_txn?: { succeeded: boolean } }>;
    try {
      responses = (await this.client.kv.txn({ compare: [], success, failure: [] })).responses as typeof responses;
    } catch (err) {
      if (err instanceof Error && isUnreachable(err)) {
        for (const w of batch) w.reject(err);
        return;
      }
      // Refused: find out whose write it was by trying each alone.
      await Promise.all(batch.map((w) => this.alone(w)));
      return;
    }
    this.stats.transactions++;
    this.stats.writes += batch.length;
    // Every nested transaction of one write has the same guard, read at the same revision.
    batch.forEach((w, i) => w.resolve(responses[firstOf[i]!]?.response_txn?.succeeded === true));
  }

  private async alone(w: Pending): Promise<void> {
    try {
      const res = await this.client.kv.txn({ compare: w.guard, success: txnOps(w.ops, w.guard), failure: [] });
      this.stats.transactions++;
      this.stats.writes++;
      w.resolve(res.succeeded);
    } catch (err) {
      w.reject(err);
    }
  }
}
