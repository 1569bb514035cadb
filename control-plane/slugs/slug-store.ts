/** Release slugs (gzipped tarballs) stored by sha256 in the control plane's data dir. */
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InvalidArgumentError } from '../errors';

const DIGEST = /^[0-9a-f]{64}$/;

/** Writes one incoming slug to a temp file while hashing it; `commit` names it by its digest. */
export class SlugUpload {
  private readonly hash = createHash('sha256');
  private readonly file: fs.WriteStream;
  private size = 0;
  private failed?: Error;

  constructor(private readonly dir: string, private readonly tempPath: string, private readonly maxBytes: number) {
    this.file = fs.createWriteStream(tempPath, { mode: 0o600 });
    this.file.on('error', (err) => (this.failed = err));
  }

  /** Appends a chunk; resolves when the file can take more (backpressure). */
  async write(chunk: Buffer): Promise<void> {
    if (this.failed) throw this.failed;
    this.size += chunk.length;
    if (this.size > this.maxBytes) throw new InvalidArgumentError(`slug larger than the limit of ${this.maxBytes} bytes`);
    this.hash.update(chunk);
    if (!this.file.write(chunk)) await new Promise<void>((resolve) => this.file.once('drain', () => resolve()));
  }

  /** Finishes the upload; returns the digest and size. */
  async commit(expectedSize?: number): Promise<{ digest: string; size: number }> {
    await new Promise<void>((resolve, reject) => this.file.end((err?: Error | null) => (err ? reject(err) : resolve())));
    if (this.failed) throw this.failed;
    if (expectedSize !== undefined && expectedSize !== this.size) {
      await this.abort();
      throw new InvalidArgumentError(`slug upload incomplete: got ${this.size} of ${expectedSize} bytes`);
    }
    const digest = this.hash.digest('hex');
    await fs.promises.rename(this.tempPath, path.join(this.dir, `${digest}.tgz`));
    return { digest, size: this.size };
  }

  async abort(): Promise<void> {
    this.file.destroy();
    await fs.promises.rm(this.tempPath, { force: true });
  }
}

export class SlugStore {
  readonly dir: string;

  constructor(dataDir: string, readonly maxBytes = 1024 * 1024 * 1024) {
    this.dir = path.join(dataDir, 'slugs');
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
  }

  upload(): SlugUpload {
    const temp = path.join(this.dir, `.upload-${randomBytes(8).toString('hex')}`);
    return new SlugUpload(this.dir, temp, this.maxBytes);
  }

  /** The path of a stored slug, or undefined when this replica does not have it. */
  pathOf(digest: string): string | undefined {
    if (!DIGEST.test(digest)) return undefined;
    const file = path.join(this.dir, `${digest}.tgz`);
    return fs.existsSync(file) ? file : undefined;
  }
}
