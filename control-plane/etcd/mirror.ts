/**
 * An in-memory copy of every key under one etcd prefix, kept current by a watch.
 *
 * Listeners see each watch batch after it has been applied, so a listener that reads
 * `entries` sees a state consistent with the events it was given.
 */
import { EventEmitter } from 'node:events';
import type { Etcd3, Watcher } from 'etcd3';
import type { Logger } from '../../lib/log';
import { RetryDelay } from '../../lib/retry-delay';
import { decode } from '../records';
import { prefixEnd } from './batch';

export interface MirrorEntry {
  /**
   * The value as text (every value mirrored is JSON); empty in a mirror opened with `project`,
   * which keeps only the projection (read it with `decoded`). A string, not the Buffer etcd3 hands out:
   * that is a view into the whole gRPC message (protobufjs slices, it does not copy), so keeping
   * it would keep each watch batch, and the range response of a load, alive for as long as any
   * of its values stays here; and a one-byte string is smaller than a Buffer object.
   */
  value: string;
  modRevision: number;
  createRevision: number;
  lease: string;
}

/** A mirror entry with its value parsed once (PrefixMirror.decoded): every put makes a new entry. */
interface StoredEntry extends MirrorEntry {
  parsed?: { value: object | undefined };
}

export interface MirrorEvent {
  type: 'put' | 'delete';
  key: string;
  entry?: MirrorEntry;
}

export interface MirrorOptions {
  /**
   * Keep only this projection of each value, made when it arrives, instead of its text: for
   * large prefixes whose readers need a few fields (the leader's 100k statuses) or the parsed
   * value anyway (assignments). `decoded` returns it; undefined when the value is malformed.
   */
  project?: (text: string, key: string) => object | undefined;
}

/** A projection that throws on a malformed value gives undefined, as `decode` does. */
function projectSafely(project: (text: string, key: string) => object | undefined, text: string, key: string): object | undefined {
  try {
    return project(text, key);
  } catch {
    return undefined;
  }
}

/** Longest wait between two attempts to reload a prefix whose watch broke. */
const RELOAD_MAX_DELAY_MS = 1_000;

export class PrefixMirror extends EventEmitter<{ change: [MirrorEvent[]]; resync: [] }> {
  /** The open mirrors of each client: all are read afresh when etcd's data is replaced (refreshAll). */
  private static readonly openByClient = new WeakMap<Etcd3, Set<PrefixMirror>>();

  readonly entries = new Map<string, MirrorEntry>();
  /** The etcd revision this copy reflects, at least. */
  revision = 0;
  private watcher?: Watcher;
  private closed = false;
  private revisionWaiters: Array<{ revision: number; resolve: () => void }> = [];
  private retryTimer?: NodeJS.Timeout;
  private readonly reloadDelay = new RetryDelay({ initialMs: 100, maxMs: RELOAD_MAX_DELAY_MS });

  private constructor(
    private readonly client: Etcd3,
    readonly prefix: string,
    private readonly logger: Logger,
    private readonly project?: (text: string, key: string) => object | undefined,
  ) {
    super();
  }

  /** Loads the prefix and starts watching it. */
  static async open(client: Etcd3, prefix: string, logger: Logger, opts: MirrorOptions = {}): Promise<PrefixMirror> {
    const mirror = new PrefixMirror(client, prefix, logger, opts.project);
    await mirror.load();
    let open = PrefixMirror.openByClient.get(client);
    if (!open) PrefixMirror.openByClient.set(client, (open = new Set()));
    if (!mirror.closed) open.add(mirror);
    return mirror;
  }

  /** The highest revision any open mirror of `client` reflects (0: none). */
  static highestRevision(client: Etcd3): number {
    let highest = 0;
    for (const mirror of PrefixMirror.openByClient.get(client) ?? []) highest = Math.max(highest, mirror.revision);
    return highest;
  }

  /**
   * Reads every open mirror of `client` afresh (each emits 'resync'), as when etcd's data was
   * replaced behind the watches: restored from a backup, its revision is lower than theirs, so they
   * would wait for revisions that are not coming. A mirror that etcd fails keeps trying by itself.
   */
  static async refreshAll(client: Etcd3): Promise<void> {
    const open = [...(PrefixMirror.openByClient.get(client) ?? [])];
    await Promise.all(open.map((mirror) => mirror.refresh().catch(() => undefined)));
  }

  /**
   * The value of `key` (or of an entry of this mirror) as records.ts `decode` gives it (or, in a
   * mirror opened with `project`, its projection), parsed
   * once per version of the key instead of at every read: the leader reads all 100k
   * assignments and statuses each scheduling round, and the assignment hub each changed one.
   * The object is shared by every reader: never modify it (one exception: the assignment index
   * puts its own copy of an unchanged instance into a packed value, an equal object).
   */
  decoded<T extends object>(keyOrEntry: string | MirrorEntry | undefined): T | undefined {
    const entry = (typeof keyOrEntry === 'string' ? this.entries.get(keyOrEntry) : keyOrEntry) as StoredEntry | undefined;
    if (!entry) return undefined;
    entry.parsed ??= { value: decode<T>(entry.value) };
    return entry.parsed.value as T | undefined;
  }

  /** Resolves once the copy reflects at least `revision` (a revision of a write to this prefix). */
  waitForRevision(revision: number): Promise<void> {
    if (this.revision >= revision || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.revisionWaiters.push({ revision, resolve }));
  }

  /**
   * waitForRevision, but a copy that has not reached `revision` after `timeoutMs` is read afresh
   * (and 'resync' emitted). A write can leave no event here to wait for: a transaction that only
   * deletes keys already gone (a plan committed again after a deadline hid that the first
   * attempt was applied) answers the store's current revision, which may belong to other keys.
   */
  async catchUp(revision: number, timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), timeoutMs)));
    const timedOut = await Promise.race([this.waitForRevision(revision).then(() => false), late]);
    clearTimeout(timer);
    if (!timedOut || this.closed || this.revision >= revision) return;
    this.logger.warn({ prefix: this.prefix, revision, seen: this.revision }, `no event of revision ${revision} after ${timeoutMs} ms; reading the prefix afresh`);
    await this.refresh();
  }

  /** Reads the prefix afresh and emits 'resync'; while etcd fails, keeps trying in the background and throws. */
  async refresh(): Promise<void> {
    const old = this.watcher;
    this.watcher = undefined;
    // Not awaited: a cancel waits for etcd's answer, and etcd may be what is stuck.
    old?.cancel().catch(() => undefined);
    try {
      await this.load();
    } catch (err) {
      this.reload(); // keeps trying, as after a broken watch
      throw err;
    }
    this.emit('resync');
  }

  async close(): Promise<void> {
    this.closed = true;
    PrefixMirror.openByClient.get(this.client)?.delete(this);
    clearTimeout(this.retryTimer);
    for (const waiter of this.revisionWaiters) waiter.resolve();
    this.revisionWaiters = [];
    await this.watcher?.cancel().catch(() => undefined);
  }

  private async load(): Promise<void> {
    const key = Buffer.from(this.prefix);
    const res = await this.client.kv.range({ key, range_end: prefixEnd(key) });
    this.entries.clear();
    for (const kv of res.kvs) {
      const key = kv.key.toString();
      this.entries.set(key, this.entry(kv, key));
    }
    this.loadedAt(Number(res.header.revision));
    const watcher = await this.client.watch().prefix(this.prefix).startRevision(String(this.revision + 1)).create();
    if (this.closed) {
      await watcher.cancel();
      return;
    }
    // Two loads at once (a broken watch's reload and a catch-up): the last one's watch stays.
    this.watcher?.cancel().catch(() => undefined);
    this.watcher = watcher;
    // etcd3 resumes a broken watch from the revision of the last header it got, plus one
    // (Watcher.updateRevision). While etcd is still sending the changes a watch was behind on,
    // that header is ahead of them: a stream that broke again then would resume past changes
    // never delivered, and this copy would miss them for good. Resume from what it has seen.
    watcher.on('disconnected', () => {
      (watcher as unknown as { request: { start_revision?: string } }).request.start_revision = String(this.revision + 1);
    });
    watcher.on('data', (res) => {
      const events: MirrorEvent[] = [];
      for (const ev of res.events) {
        const key = ev.kv.key.toString();
        if (ev.type === 'Put') {
          const entry = this.entry(ev.kv, key);
          this.entries.set(key, entry);
          events.push({ type: 'put', key, entry });
        } else {
          this.entries.delete(key);
          events.push({ type: 'delete', key });
        }
      }
      // Event revisions, not the header's: only they say what this copy has seen.
      const last = res.events.at(-1);
      if (last) this.setRevision(Number(last.kv.mod_revision));
      if (events.length > 0) this.emit('change', events);
    });
    watcher.on('error', (err) => {
      // A compacted start revision or a broken watch: start over from a fresh read.
      if (this.closed) return;
      this.logger.warn({ err, prefix: this.prefix }, 'watch failed; reloading the prefix');
      void watcher.cancel().catch(() => undefined);
      if (this.watcher === watcher) this.watcher = undefined;
      this.reloadDelay.reset();
      this.reload();
    });
  }

  private entry(kv: { value: Buffer; mod_revision: string; create_revision: string; lease: string }, key: string): StoredEntry {
    const text = kv.value.toString();
    return {
      value: this.project ? '' : text,
      modRevision: Number(kv.mod_revision),
      createRevision: Number(kv.create_revision),
      lease: kv.lease,
      parsed: this.project ? { value: projectSafely(this.project, text, key) } : undefined,
    };
  }

  /** Reads the prefix again until it works (etcd may be away): one attempt at a time, backing off. */
  private reload(): void {
    if (this.closed) return;
    this.load().then(
      () => this.emit('resync'),
      (err: unknown) => {
        if (this.closed) return;
        const delayMs = this.reloadDelay.next();
        this.logger.warn({ err: (err as Error).message, prefix: this.prefix, retryInMs: delayMs }, 'reloading the prefix failed; retrying');
        this.retryTimer = setTimeout(() => this.reload(), delayMs);
      },
    );
  }

  /**
   * The copy now reflects `revision`, read whole. Lower than before only when etcd's data was
   * replaced (restored from a backup): the revisions waited for then are gone with it.
   */
  private loadedAt(revision: number): void {
    if (revision >= this.revision) {
      this.setRevision(revision);
      return;
    }
    this.revision = revision;
    const waiters = this.revisionWaiters;
    this.revisionWaiters = [];
    for (const waiter of waiters) waiter.resolve();
  }

  private setRevision(revision: number): void {
    if (revision <= this.revision) return;
    this.revision = revision;
    const ready = this.revisionWaiters.filter((w) => w.revision <= revision);
    this.revisionWaiters = this.revisionWaiters.filter((w) => w.revision > revision);
    for (const waiter of ready) waiter.resolve();
  }
}
