/**
 * Renewals of leases known to be alive, over a few keepalive streams shared by every agent.
 *
 * etcd serves the keepalives of one stream one after the other, each once its apply loop has
 * caught up with what raft had committed when it arrived (docs/stack-notes.md): behind a burst
 * of writes one stream renews only a handful of leases a second, and 1,000 agents renew
 * 1,000 a second. So a renewal goes to the stream with the fewest waiting, and a new stream is
 * opened while every stream has some, up to MAX_STREAMS: renewals that arrive together wait
 * for the same apply together.
 *
 * A stream that breaks (etcd gave up waiting for its apply loop, a member went away) does not
 * fail the renewals waiting on it: each is written again on another stream, within its own
 * deadline, while its lease is surely alive (`mayResend`); any other fails as before. etcd
 * still decides: a lease it let expire is answered TTL 0. Only the renewal etcd was serving
 * (the oldest on the stream) counts against its MAX_RESENDS: the ones behind it never got
 * their turn — unless the stream never opened, which counts against all of them. A dropped
 * connection counts against none: etcd failed no renewal, grpc-js reconnects at once, and
 * each renewal still has its own deadline (on a loaded machine one dropped in the middle of
 * etcd failing streams for a slow apply, and renewals written again twice failed with it).
 */
import type { Etcd3 } from 'etcd3';
import type { ILeaseKeepAliveResponse } from 'etcd3/lib/rpc';
import { EtcdUnavailableError } from '../errors';
import { isDroppedConnection, openKeepAliveStream, type KeepAliveStream } from './keepalive-stream';

export const RENEW_TIMEOUT_MS = 3_000;
/**
 * Streams renewing at once; etcd keeps a goroutine for each, the client an HTTP/2 stream.
 * Measured (1,000 leases renewed every second against 4 writers of 20k-put batches, load 5–7):
 * 1 stream: p50 0.3 s, 931 leases expired in 25 s; 4: 101 expired; 16: none, slowest renewal
 * 2.9 s; 64: none, p50 0.2 s, slowest 0.8–1.1 s; 256: no better than 64.
 */
export const MAX_STREAMS = 64;
const MAX_RESENDS = 2;

interface Renewal {
  leaseId: string;
  resolve: (ttl: number) => void;
  reject: (err: Error) => void;
  timer?: NodeJS.Timeout;
  resends: number;
  /** Order of writing, across streams: the oldest on a stream is the one etcd serves. */
  seq: number;
  /** The stream it waits on. */
  on?: Shared;
  /** Answered, failed or timed out: an answer that still comes for it is consumed and dropped. */
  settled: boolean;
}

interface Shared {
  opening: Promise<KeepAliveStream>;
  stream?: KeepAliveStream;
  /** etcd answers the keepalives of one stream in order, per lease ID. */
  waiting: Map<string, Renewal[]>;
  count: number;
  /** Takes no more renewals: broken, or ended after a renewal on it timed out. */
  retired: boolean;
  /** Half-closed by us: nothing more may be written. */
  ended: boolean;
  broken: boolean;
}

export class SharedKeepAlives {
  /** Every stream not broken yet, retired ones included (they may still answer). */
  private readonly streams: Shared[] = [];
  private closed = false;
  /** Renewals written again because their stream broke (tests, diagnosis). */
  resent = 0;
  private seq = 0;

  constructor(
    private readonly client: Etcd3,
    private readonly mayResend: (leaseId: string) => boolean,
    private readonly timeoutMs = RENEW_TIMEOUT_MS,
  ) {}

  /** The lease's remaining TTL in seconds, ≤ 0 when etcd let it expire. */
  renew(leaseId: string): Promise<number> {
    if (this.closed) return Promise.reject(new Error('lease keeper closed'));
    return new Promise<number>((resolve, reject) => {
      const renewal: Renewal = { leaseId, resolve, reject, resends: 0, seq: 0, settled: false };
      renewal.timer = setTimeout(() => this.timedOut(renewal), this.timeoutMs);
      this.send(renewal);
    });
  }

  close(): void {
    this.closed = true;
    for (const shared of [...this.streams]) this.broken(shared, new Error('lease keeper closed'));
  }

  private send(renewal: Renewal): void {
    const shared = this.pick();
    const queue = shared.waiting.get(renewal.leaseId);
    if (queue) queue.push(renewal);
    else shared.waiting.set(renewal.leaseId, [renewal]);
    shared.count += 1;
    renewal.on = shared;
    renewal.seq = ++this.seq;
    // `then` callbacks run in the order they were added: writes keep the order of the queues.
    shared.opening.then(
      (stream) => {
        // Not written on an ended stream: the renewal moves on when etcd ends it (broken()).
        if (!shared.broken && !shared.ended) stream.write({ ID: renewal.leaseId });
      },
      () => undefined, // broken() deals with the renewals waiting on it
    );
  }

  private pick(): Shared {
    let best: Shared | undefined;
    let taking = 0;
    for (const shared of this.streams) {
      if (shared.retired) continue;
      taking += 1;
      if (!best || shared.count < best.count) best = shared;
    }
    if (best && (best.count === 0 || taking >= MAX_STREAMS)) return best;
    return this.open();
  }

  private open(): Shared {
    const shared: Shared = { opening: undefined as unknown as Promise<KeepAliveStream>, waiting: new Map(), count: 0, retired: false, ended: false, broken: false };
    shared.opening = openKeepAliveStream(this.client).then((stream) => {
      shared.stream = stream;
      stream.on('data', (res: ILeaseKeepAliveResponse) => this.answer(shared, res.ID, Number(res.TTL)));
      stream.on('error', (err: Error) => this.broken(shared, err));
      stream.on('end', () => this.broken(shared, new EtcdUnavailableError('the lease keepalive stream ended')));
      if (shared.retired) this.end(shared);
      return stream;
    });
    shared.opening.catch((err: unknown) => this.broken(shared, err instanceof Error ? err : new Error(String(err))));
    this.streams.push(shared);
    return shared;
  }

  private answer(shared: Shared, leaseId: string, ttl: number): void {
    const queue = shared.waiting.get(leaseId);
    const renewal = queue?.shift();
    if (queue && queue.length === 0) shared.waiting.delete(leaseId);
    if (!renewal) return;
    shared.count -= 1;
    if (renewal.settled) return;
    this.settle(renewal);
    renewal.resolve(ttl);
  }

  /**
   * No answer in time. The renewal stays in its queue, so that a late answer is not taken for
   * the next renewal of the same lease; its stream takes no more and is ended (half-closed:
   * never cancelled, see retire()), and what still waits on it moves on when it ends.
   */
  private timedOut(renewal: Renewal): void {
    if (renewal.settled) return;
    this.settle(renewal);
    renewal.reject(new EtcdUnavailableError(`no answer to a lease keepalive in ${this.timeoutMs} ms`));
    if (renewal.on) this.retire(renewal.on);
  }

  private broken(shared: Shared, err: Error): void {
    if (shared.broken) return;
    shared.broken = true;
    this.retire(shared);
    const index = this.streams.indexOf(shared);
    if (index >= 0) this.streams.splice(index, 1);
    const waiting = [...shared.waiting.values()].flat().sort((a, b) => a.seq - b.seq);
    shared.waiting.clear();
    shared.count = 0;
    const served = shared.stream && !isDroppedConnection(err) ? waiting[0] : undefined;
    for (const renewal of waiting) {
      if (renewal.settled) continue;
      const counts = !shared.stream || renewal === served;
      if (!this.closed && (!counts || renewal.resends < MAX_RESENDS) && this.mayResend(renewal.leaseId)) {
        if (counts) renewal.resends += 1;
        this.resent += 1;
        this.send(renewal);
      } else {
        this.settle(renewal);
        renewal.reject(this.closed ? new Error('lease keeper closed') : err);
      }
    }
  }

  /**
   * Takes no more renewals and is half-closed: etcd answers what it has and ends the stream.
   * Never cancelled: etcd3 treats an error on a writable stream (a cancel is one) as a failed
   * member, a count towards its breaker (stream-failures.ts).
   */
  private retire(shared: Shared): void {
    if (shared.retired) return;
    shared.retired = true;
    this.end(shared);
  }

  private end(shared: Shared): void {
    if (!shared.stream || shared.ended) return;
    shared.ended = true;
    shared.stream.end();
  }

  private settle(renewal: Renewal): void {
    renewal.settled = true;
    clearTimeout(renewal.timer);
  }
}
