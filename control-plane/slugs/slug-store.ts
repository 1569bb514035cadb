/**
 * Release slugs (gzipped tarballs) stored by sha256 in the control plane's data dir.
 *
 * A slug file is trusted only after its bytes were hashed and matched its name: a file
 * whose digest does not match is removed, never served. The check is cached per file
 * (size, mtime, inode), so serving the same intact slug to many agents hashes it once.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InvalidArgumentError } from '../errors';

const DIGEST = /^[0-9a-f]{64}$/;
const SLUG_FILE = /^([0-9a-f]{64})\.tgz$/;
const TEMP_FILE = /^\.(upload|pull|gc)-/;

/** Whether `digest` is a sha256 in lowercase hex (the only names slugs have). */
export function isSlugDigest(digest: string): boolean {
  return DIGEST.test(digest);
}

/** The slug's bytes did not match the digest they were announced or stored under. */
export class SlugDigestMismatchError extends Error {
  override name = 'SlugDigestMismatchError';
  constructor(readonly digest: string, readonly actual: string, where: string) {
    super(`slug ${digest.slice(0, 12)} ${where} has digest ${actual.slice(0, 12)}: refused`);
  }
}

/** Writes one incoming slug to a temp file while hashing it; `commit` names it by its digest. */
export class SlugUpload {
  private readonly hash = createHash('sha256');
  private readonly file: fs.WriteStream;
  private size = 0;
  private failed?: Error;

  constructor(
    private readonly store: SlugStore,
    private readonly tempPath: string,
    private readonly maxBytes: number,
    /** When set (replication), the bytes must hash to this digest or nothing is stored. */
    private readonly expectedDigest?: string,
  ) {
    this.file = fs.createWriteStream(tempPath, { mode: 0o600 });
    this.file.on('error', (err) => (this.failed = err));
  }

  /** Appends a chunk; resolves when the file can take more (backpressure). */
  async write(chunk: Buffer): Promise<void> {
    this.throwIfFailed();
    this.size += chunk.length;
    if (this.size > this.maxBytes) throw new InvalidArgumentError(`slug larger than the limit of ${this.maxBytes} bytes`);
    this.hash.update(chunk);
    if (!this.file.write(chunk)) await this.drained();
    this.throwIfFailed();
  }

  /** A write already failed (it may fail while nothing waits for it). */
  private throwIfFailed(): void {
    if (this.failed) throw this.failed;
  }

  /**
   * Until the file takes more, or fails: a write error (a full disk) destroys the stream, which
   * then never drains, and a wait for 'drain' alone held the upload until its caller's deadline.
   */
  private drained(): Promise<void> {
    if (this.failed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = () => {
        this.file.off('drain', done);
        this.file.off('error', done);
        resolve();
      };
      this.file.once('drain', done);
      this.file.once('error', done);
    });
  }

  /** Finishes the upload; returns the digest and size. The temp file never outlives a failure. */
  async commit(expectedSize?: number): Promise<{ digest: string; size: number }> {
    try {
      this.throwIfFailed();
      await new Promise<void>((resolve, reject) => this.file.end((err?: Error | null) => (err ? reject(err) : resolve())));
      this.throwIfFailed();
      if (expectedSize !== undefined && expectedSize !== this.size) {
        throw new InvalidArgumentError(`slug upload incomplete: got ${this.size} of ${expectedSize} bytes`);
      }
      const digest = this.hash.digest('hex');
      if (this.expectedDigest !== undefined && digest !== this.expectedDigest) {
        throw new SlugDigestMismatchError(this.expectedDigest, digest, 'as received');
      }
      await this.store.adopt(this.tempPath, digest);
      return { digest, size: this.size };
    } catch (err) {
      await this.abort();
      throw err;
    }
  }

  async abort(): Promise<void> {
    this.file.destroy();
    await fs.promises.rm(this.tempPath, { force: true });
  }

  /**
   * Abandons the upload without waiting (a failed or cancelled call). A temp file that cannot
   * be removed now is removed later by the store's sweep of old temp files.
   */
  discard(): void {
    this.abort().catch(() => undefined);
  }
}

/** What a check of a stored slug found. */
export type SlugCheck =
  | { state: 'ok'; path: string; size: number }
  | { state: 'missing' }
  /** The file did not match its digest; it has been removed. */
  | { state: 'corrupt'; actual: string };

/** A slug file on disk. */
export interface StoredSlug {
  digest: string;
  size: number;
  mtimeMs: number;
}

export class SlugStore {
  readonly dir: string;
  /** Per digest, the stat signature of the file last hashed and found intact. */
  private readonly verified = new Map<string, string>();

  constructor(dataDir: string, readonly maxBytes = 1024 * 1024 * 1024) {
    this.dir = path.join(dataDir, 'slugs');
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
  }

  /** A slug arriving from a deploy: named by whatever digest its bytes have. */
  upload(): SlugUpload {
    return new SlugUpload(this, this.tempPath('upload'), this.maxBytes);
  }

  /** A slug arriving from another replica: stored only if its bytes hash to `digest`. */
  receive(digest: string): SlugUpload {
    if (!isSlugDigest(digest)) throw new InvalidArgumentError(`malformed slug digest \`${digest}\``);
    return new SlugUpload(this, this.tempPath('pull'), this.maxBytes, digest);
  }

  /** Moves a finished temp file into place (an atomic rename: readers never see half a slug). */
  async adopt(tempPath: string, digest: string): Promise<void> {
    const file = this.fileOf(digest);
    await fs.promises.rename(tempPath, file);
    const stat = await fs.promises.stat(file);
    this.verified.set(digest, signature(stat)); // its bytes were hashed on the way in
  }

  /** The path of a stored slug (unchecked), or undefined when this replica does not have it. */
  pathOf(digest: string): string | undefined {
    if (!isSlugDigest(digest)) return undefined;
    const file = this.fileOf(digest);
    return fs.existsSync(file) ? file : undefined;
  }

  /** Whether the stored slug is intact, hashing it unless this exact file was checked before. */
  async check(digest: string): Promise<SlugCheck> {
    if (!isSlugDigest(digest)) return { state: 'missing' };
    const file = this.fileOf(digest);
    let stat: fs.Stats;
    try {
      stat = await fs.promises.stat(file);
    } catch {
      this.verified.delete(digest);
      return { state: 'missing' };
    }
    if (this.verified.get(digest) === signature(stat)) return { state: 'ok', path: file, size: stat.size };
    const actual = await hashFile(file);
    if (actual === digest) {
      this.verified.set(digest, signature(stat));
      return { state: 'ok', path: file, size: stat.size };
    }
    await this.remove(digest);
    return { state: 'corrupt', actual };
  }

  /** Forgets a slug (a corrupt one, or one no release needs any more). */
  async remove(digest: string): Promise<void> {
    this.verified.delete(digest);
    if (isSlugDigest(digest)) await fs.promises.rm(this.fileOf(digest), { force: true });
  }

  /**
   * Deletes the slug unless its file was written after `notAfterMs` (GC). The file is first
   * moved aside atomically and its age read there, so a deploy that stores the same bytes
   * at that moment keeps its fresh copy. Returns whether it was deleted.
   */
  async removeIfUnchangedSince(digest: string, notAfterMs: number): Promise<boolean> {
    if (!isSlugDigest(digest)) return false;
    const file = this.fileOf(digest);
    const aside = this.tempPath('gc');
    try {
      await fs.promises.rename(file, aside);
    } catch {
      return false; // gone already
    }
    if ((await fs.promises.stat(aside)).mtimeMs > notAfterMs) {
      // Written meanwhile: put it back, unless an even newer copy took its place (link never overwrites).
      await fs.promises.link(aside, file).catch(() => undefined);
      await fs.promises.rm(aside, { force: true });
      return false;
    }
    this.verified.delete(digest);
    await fs.promises.rm(aside, { force: true });
    return true;
  }

  /** The slug file of `digest` on disk (checked or not), or undefined. */
  async stat(digest: string): Promise<StoredSlug | undefined> {
    if (!isSlugDigest(digest)) return undefined;
    try {
      const stat = await fs.promises.stat(this.fileOf(digest));
      return { digest, size: stat.size, mtimeMs: stat.mtimeMs };
    } catch {
      return undefined;
    }
  }

  /** Every slug file on disk (checked or not). */
  async list(): Promise<StoredSlug[]> {
    const out: StoredSlug[] = [];
    for (const name of await fs.promises.readdir(this.dir)) {
      const m = SLUG_FILE.exec(name);
      if (!m) continue;
      try {
        const stat = await fs.promises.stat(path.join(this.dir, name));
        out.push({ digest: m[1]!, size: stat.size, mtimeMs: stat.mtimeMs });
      } catch {
        // removed meanwhile
      }
    }
    return out;
  }

  /** Removes temp files older than `maxAgeMs` (left by a crash mid-upload); returns how many. */
  async removeStaleTemps(maxAgeMs: number, now = Date.now()): Promise<number> {
    let removed = 0;
    for (const name of await fs.promises.readdir(this.dir)) {
      if (!TEMP_FILE.test(name)) continue;
      const file = path.join(this.dir, name);
      try {
        if (now - (await fs.promises.stat(file)).mtimeMs < maxAgeMs) continue;
        await fs.promises.rm(file, { force: true });
        removed += 1;
      } catch {
        // gone meanwhile
      }
    }
    return removed;
  }

  private fileOf(digest: string): string {
    return path.join(this.dir, `${digest}.tgz`);
  }

  private tempPath(kind: 'upload' | 'pull' | 'gc'): string {
    return path.join(this.dir, `.${kind}-${randomBytes(8).toString('hex')}`);
  }
}

function signature(stat: fs.Stats): string {
  return `${stat.size}:${stat.mtimeMs}:${stat.ino}`;
}

/** The sha256 of a file, streamed. */
export async function hashFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1024 * 1024 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
