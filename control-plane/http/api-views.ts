/**
 * What the dashboard shows, computed by the cluster API's own handlers (the same answers
 * `cluster apps`, `ps`, `releases` and `agents` print): one function per view, shared by the
 * JSON API and the live streams.
 */
import type { ClusterApiHandlers } from '../../proto/gen/cluster/api/ClusterApi';
import type { PsReply } from '../../proto/gen/cluster/api/PsReply';
import type { ListAgentsReply } from '../../proto/gen/cluster/api/ListAgentsReply';
import type { ListReleasesReply } from '../../proto/gen/cluster/api/ListReleasesReply';
import { appNameProblem } from '../../lib/names';
import { callHandler, HttpError } from './grpc-bridge';

export interface AppSummary {
  name: string;
  /** The newest release. */
  release: number;
  /** The release the instances run (0 before one went live). */
  running: number;
  /** The newest release's phase (and why it failed) when it is not the running one; '' otherwise. */
  newestPhase: string;
  newestPhaseReason: string;
  formation: Array<{ type: string; count: number }>;
  up: number;
  desired: number;
  stale?: unknown;
}

/**
 * An app name from a URL, checked before it reaches a handler: a name no app can have is bad
 * input (400, with what is wrong with it); 404 is for a valid name no app has.
 */
export function appFromUrl(name: string): string {
  const problem = appNameProblem(name);
  if (problem) throw new HttpError(400, name.length <= 64 ? problem : problem.replace(name, `${name.slice(0, 64)}…`));
  return name;
}

/** Releases an app page lists (the newest; `cluster releases` lists them all). */
export const PAGE_RELEASES = 50;
/**
 * How long an app page reuses its release list: releases are read whole from etcd, and a page
 * is recomputed on every instance state change; a new release shows within this long.
 */
const RELEASES_REUSE_MS = 2_000;

export class DashboardViews {
  private readonly releaseCache = new Map<string, { at: number; value: Promise<ListReleasesReply> }>();

  constructor(private readonly api: ClusterApiHandlers) {}

  /** Forgets an app's cached releases (after a rollback through the dashboard). */
  releasesChanged(app: string): void {
    this.releaseCache.delete(app);
  }

  async apps(): Promise<{ apps: AppSummary[]; stale?: unknown }> {
    const list = await callHandler(this.api.ListApps, {});
    const apps = await Promise.all(
      (list.apps ?? []).map(async (a): Promise<AppSummary> => {
        const ps = await this.ps(a.name ?? '', true).catch(() => undefined);
        const types = new Set(ps?.process_types ?? []);
        const formation = (ps?.formation ?? []).filter((f) => types.has(f.type ?? ''));
        return {
          name: a.name ?? '',
          release: a.release ?? 0,
          running: a.running ?? a.release ?? 0,
          newestPhase: a.newest_phase ?? '',
          newestPhaseReason: a.newest_phase_reason ?? '',
          formation: formation.map((f) => ({ type: f.type ?? '', count: f.count ?? 0 })),
          up: (ps?.instances ?? []).filter((i) => i.state === 'up' && types.has(i.type ?? '')).length,
          desired: formation.reduce((sum, f) => sum + (f.count ?? 0), 0),
          stale: ps?.stale ?? null,
        };
      }),
    );
    return { apps, stale: list.stale ?? null };
  }

  /** `ps` of an app; `statesOnly` leaves out CPU and memory (no agent is asked: docs/metrics.md). */
  ps(app: string, statesOnly = false): Promise<PsReply> {
    return callHandler(this.api.Ps, { app: appFromUrl(app), states_only: statesOnly }) as Promise<PsReply>;
  }

  releases(app: string): Promise<ListReleasesReply> {
    return callHandler(this.api.ListReleases, { app: appFromUrl(app) }) as Promise<ListReleasesReply>;
  }

  /** One app's page: its instances and formation, and its newest releases. */
  async app(app: string): Promise<{ ps: PsReply; releases: ListReleasesReply['releases'] }> {
    const [ps, releases] = await Promise.all([this.ps(app), this.recentReleases(app)]);
    return { ps, releases: (releases.releases ?? []).slice(0, PAGE_RELEASES) };
  }

  private recentReleases(app: string): Promise<ListReleasesReply> {
    const now = Date.now();
    const hit = this.releaseCache.get(app);
    if (hit && now - hit.at < RELEASES_REUSE_MS) return hit.value;
    const value = this.releases(app);
    this.releaseCache.set(app, { at: now, value });
    value.catch(() => this.releaseCache.delete(app));
    // Bounded: at most one entry per app, gone once stale.
    setTimeout(() => {
      if (this.releaseCache.get(app)?.value === value) this.releaseCache.delete(app);
    }, RELEASES_REUSE_MS).unref();
    return value;
  }

  agents(): Promise<ListAgentsReply> {
    return callHandler(this.api.ListAgents, {}) as Promise<ListAgentsReply>;
  }
}
