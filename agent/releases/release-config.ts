/**
 * The commands and config of the releases this agent runs: assignments only name their
 * release, so each (app, release) is fetched once from the control plane (GetRelease) and kept
 * while some assignment still uses it. Concurrent starts of one release share one fetch.
 */
import type { AgentApiClient } from '../../proto/gen/cluster/agent/AgentApi';
import type { ReleaseSpec__Output } from '../../proto/gen/cluster/agent/ReleaseSpec';
import { callUnary } from '../../lib/grpc-call';

/** What an instance of a release runs: its command per process type and its config vars. */
export interface ReleaseConfig {
  slug: string;
  processTypes: Record<string, string>;
  env: Record<string, string>;
}

const FETCH_TIMEOUT_MS = 10_000;
/** Releases kept beyond those in use (a rollback to the previous one needs no fetch). */
const SPARE = 16;

/**
 * A destroyed and re-created app reuses release numbers, and deploying the same code gives the
 * same slug: only its creation time (`appCreatedAtMs`, 0 from a control plane that does not send
 * it) tells its releases apart, and a config of the destroyed app must never be reused.
 */
function keyOf(app: string, release: number, slug: string, appCreatedAtMs: number): string {
  return `${app}@${appCreatedAtMs}/v${release}/${slug}`;
}

export class ReleaseConfigs {
  private readonly cache = new Map<string, ReleaseConfig>();
  private readonly inFlight = new Map<string, Promise<ReleaseConfig>>();

  constructor(private readonly client: AgentApiClient) {}

  /**
   * The config of release `release` of `app` (created at `appCreatedAtMs`), checked against the
   * slug the assignment names (a destroyed and re-created app reuses release numbers).
   */
  get(app: string, release: number, slug: string, appCreatedAtMs = 0): Promise<ReleaseConfig> {
    const key = keyOf(app, release, slug, appCreatedAtMs);
    const cached = this.cache.get(key);
    if (cached) {
      // Most recently used last: eviction takes the oldest.
      this.cache.delete(key);
      this.cache.set(key, cached);
      return Promise.resolve(cached);
    }
    let pending = this.inFlight.get(key);
    if (!pending) {
      pending = this.fetch(app, release, slug, key).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, pending);
    }
    return pending;
  }

  /** Forgets releases no assignment uses any more, keeping the SPARE most recently used. */
  retain(inUse: Iterable<{ app: string; release: number; slug: string; app_created_at_ms?: number }>): void {
    const keep = new Set<string>();
    for (const a of inUse) keep.add(keyOf(a.app, a.release, a.slug, a.app_created_at_ms ?? 0));
    let spare = [...this.cache.keys()].filter((key) => !keep.has(key)).length - SPARE;
    for (const key of this.cache.keys()) {
      if (spare <= 0) break;
      if (keep.has(key)) continue;
      this.cache.delete(key);
      spare--;
    }
  }

  private async fetch(app: string, release: number, slug: string, key: string): Promise<ReleaseConfig> {
    let spec: ReleaseSpec__Output;
    try {
      spec = await callUnary(this.client, 'GetRelease', { app, release }, FETCH_TIMEOUT_MS);
    } catch (err) {
      throw new Error(`could not get release v${release} of ${app} from the control plane: ${(err as Error).message}`, { cause: err });
    }
    if (spec.slug !== slug) {
      throw new Error(`release v${release} of ${app} has slug ${spec.slug.slice(0, 12)}, not ${slug.slice(0, 12)} as assigned (was the app re-created?)`);
    }
    const config: ReleaseConfig = { slug: spec.slug, processTypes: { ...spec.process_types }, env: { ...spec.env } };
    this.cache.set(key, config);
    return config;
  }
}
