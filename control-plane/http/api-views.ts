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
  release: number;
  formation: Array<{ type: string; count: number }>;
  up: number;
  desired: number;
  stale?: unknown;
}

/** An app name from a URL, checked before it reaches a handler. */
export function appFromUrl(name: string): string {
  const problem = appNameProblem(name);
  if (problem) throw new HttpError(404, `no app \`${name.slice(0, 64)}\`: ${problem}`);
  return name;
}

export class DashboardViews {
  constructor(private readonly api: ClusterApiHandlers) {}

  async apps(): Promise<{ apps: AppSummary[]; stale?: unknown }> {
    const list = await callHandler(this.api.ListApps, {});
    const apps = await Promise.all(
      (list.apps ?? []).map(async (a): Promise<AppSummary> => {
        const ps = await this.ps(a.name ?? '').catch(() => undefined);
        const types = new Set(ps?.process_types ?? []);
        const formation = (ps?.formation ?? []).filter((f) => types.has(f.type ?? ''));
        return {
          name: a.name ?? '',
          release: a.release ?? 0,
          formation: formation.map((f) => ({ type: f.type ?? '', count: f.count ?? 0 })),
          up: (ps?.instances ?? []).filter((i) => i.state === 'up' && types.has(i.type ?? '')).length,
          desired: formation.reduce((sum, f) => sum + (f.count ?? 0), 0),
          stale: ps?.stale ?? null,
        };
      }),
    );
    return { apps, stale: list.stale ?? null };
  }

  ps(app: string): Promise<PsReply> {
    return callHandler(this.api.Ps, { app: appFromUrl(app) }) as Promise<PsReply>;
  }

  releases(app: string): Promise<ListReleasesReply> {
    return callHandler(this.api.ListReleases, { app: appFromUrl(app) }) as Promise<ListReleasesReply>;
  }

  /** One app's page: its instances and formation, and its releases. */
  async app(app: string): Promise<{ ps: PsReply; releases: ListReleasesReply['releases'] }> {
    const [ps, releases] = await Promise.all([this.ps(app), this.releases(app)]);
    return { ps, releases: releases.releases };
  }

  agents(): Promise<ListAgentsReply> {
    return callHandler(this.api.ListAgents, {}) as Promise<ListAgentsReply>;
  }
}
