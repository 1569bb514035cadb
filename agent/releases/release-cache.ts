/**
 * Release slugs on this agent: fetched once per digest from the control plane, checked
 * against their sha256, unpacked into `<data>/slugs/<digest>/` (symlinks as packed:
 * unpack-slug.ts, in a process of its own), and shared by every release (and instance) that uses the same code; removed
 * once unused for a while (slug-janitor.ts).
 * Bytes that do not match their digest are deleted before anything is unpacked: fetched once
 * more at once (a transfer gone wrong), then left to the caller's retry (which may reach
 * another replica).
 */
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { AgentApiClient } from '../../proto/gen/cluster/agent/AgentApi';
import type { SlugChunk__Output } from '../../proto/gen/cluster/agent/SlugChunk';
import type { Logger } from '../../lib/log';
import { ReleaseConfigs } from './release-config';
import { COMPLETE_MARKER, touch } from './slug-janitor';
import { unpackSlug } from './unpack-slug';

const DIGEST = /^[0-9a-f]{64}$/;
const FETCH_TIMEOUT_MS = 5 * 60_000;
/** Fetches of one slug in a row when the bytes do not match their digest. */
const MISMATCH_ATTEMPTS = 2;

/** The slug's bytes did not match its digest. */
export class SlugDigestMismatchError extends Error {
  override name = 'SlugDigestMismatchError';
}

export class ReleaseCache {
  /** `<data>/slugs`. */
  readonly dir: string;
  private readonly inFlight = new Map<string, Promise<string>>();
  /** How many holders each slug has (hold()). */
  private readonly holds = new Map<string, number>();
  /** The commands and config of releases (assignments only name them). */
  readonly configs: ReleaseConfigs;

  constructor(dataDir: string, private readonly client: AgentApiClient, private readonly logger: Logger) {
    this.configs = new ReleaseConfigs(client);
    this.dir = path.join(dataDir, 'slugs');
    fs.mkdirSync(this.dir, { recursive: true });
  }

  /**
   * Keeps slug `digest` from slug-janitor.ts until the returned function is called (once; more
   * calls do nothing). For what no assignment names and /proc may not show: a one-off (or
   * release command) from before its ensure() to its end, wherever its working directory went
   * (`cd /`, a chdir()), and however long its fetch took.
   */
  hold(digest: string): () => void {
    this.holds.set(digest, (this.holds.get(digest) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.holds.get(digest) ?? 1) - 1;
      if (left > 0) this.holds.set(digest, left);
      else this.holds.delete(digest);
    };
  }

  /** The slugs some hold() keeps. */
  held(): string[] {
    return [...this.holds.keys()];
  }

  /** Whether slug `digest` is here, unpacked: ensure() then answers at once, without a fetch. */
  isUnpacked(digest: string): boolean {
    return DIGEST.test(digest) && fs.existsSync(path.join(this.dir, digest, COMPLETE_MARKER));
  }

  /** The unpacked directory of slug `digest`, fetching it first if needed. */
  ensure(digest: string): Promise<string> {
    if (!DIGEST.test(digest)) return Promise.reject(new Error(`malformed slug digest \`${digest}\``));
    const target = path.join(this.dir, digest);
    const marker = path.join(target, COMPLETE_MARKER);
    if (fs.existsSync(marker)) {
      touch(marker, Date.now()); // last used now: slug-janitor.ts keeps it for --keep-slugs from here
      return Promise.resolve(target);
    }
    let pending = this.inFlight.get(digest);
    if (!pending) {
      pending = this.fetch(digest, target).finally(() => this.inFlight.delete(digest));
      this.inFlight.set(digest, pending);
    }
    return pending;
  }

  private async fetch(digest: string, target: string): Promise<string> {
    const started = Date.now();
    const nonce = randomBytes(6).toString('hex');
    const archive = path.join(this.dir, `.fetch-${digest}-${nonce}.tgz`);
    const unpacking = path.join(this.dir, `.unpack-${digest}-${nonce}`);
    try {
      const size = await this.downloadChecked(digest, archive);
      fs.mkdirSync(unpacking, { recursive: true });
      await unpackSlug(archive, unpacking, (problem) => this.logger.warn({ slug: digest, problem }, 'slug entry left out while unpacking'));
      // The slug may hold a `.cluster-complete` of its own, a symlink to anywhere (extract-slug.ts
      // makes them as packed): a write would go through it, outside the slugs. Ours replaces it.
      const marker = path.join(unpacking, COMPLETE_MARKER);
      fs.rmSync(marker, { recursive: true, force: true });
      fs.writeFileSync(marker, digest, { flag: 'wx' });
      fs.rmSync(target, { recursive: true, force: true });
      fs.renameSync(unpacking, target);
      this.logger.info({ slug: digest, bytes: size, ms: Date.now() - started }, 'release slug fetched and unpacked');
      return target;
    } finally {
      fs.rmSync(archive, { force: true });
      fs.rmSync(unpacking, { recursive: true, force: true });
    }
  }

  /** Downloads until the bytes match `digest` (at most MISMATCH_ATTEMPTS times). */
  private async downloadChecked(digest: string, file: string): Promise<number> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.download(digest, file);
      } catch (err) {
        fs.rmSync(file, { force: true }); // never unpacked, never kept
        if (!(err instanceof SlugDigestMismatchError) || attempt >= MISMATCH_ATTEMPTS) throw err;
        this.logger.warn({ slug: digest, err: err.message }, 'slug bytes did not match their digest: discarded, fetching again');
      }
    }
  }

  private download(digest: string, file: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const hash = createHash('sha256');
      const out = fs.createWriteStream(file);
      let size = 0;
      const call = this.client.FetchSlug({ digest }, { deadline: Date.now() + FETCH_TIMEOUT_MS });
      const fail = (err: Error) => {
        call.cancel();
        out.destroy();
        reject(err);
      };
      out.on('error', fail);
      call.on('data', (chunk: SlugChunk__Output) => {
        size += chunk.data.length;
        hash.update(chunk.data);
        if (!out.write(chunk.data)) {
          call.pause();
          out.once('drain', () => call.resume());
        }
      });
      // With the call's gRPC code: a one-off's launch tries again when no replica answered (code-fetch-retry.ts).
      call.on('error', (err) => fail(Object.assign(new Error(`fetching slug ${digest.slice(0, 12)} failed: ${err.message}`), { code: (err as { code?: number }).code })));
      call.on('end', () => {
        out.end(() => {
          const actual = hash.digest('hex');
          if (actual !== digest) reject(new SlugDigestMismatchError(`slug ${digest.slice(0, 12)} arrived with digest ${actual.slice(0, 12)}`));
          else resolve(size);
        });
      });
    });
  }
}
