/** Every app: its release, formation and how many instances are up of those desired. */
import { useLive } from '../api';
import { Link } from '../components/link';
import { Reconnecting, StaleBanner } from '../components/stale';
import type { AppSummary, Staleness } from '../types';
import { describeLiveRelease } from '../../../lib/release-phase';

export function AppsPage() {
  const live = useLive<{ apps: AppSummary[]; stale?: Staleness | null }>('/api/events/apps');
  return (
    <section aria-labelledby="apps-title">
      <h1 id="apps-title">Apps</h1>
      <StaleBanner stale={live.data?.stale} />
      <Reconnecting live={live} />
      {live.error && <p class="banner error" role="alert">{live.error}</p>}
      {!live.data && !live.error && <p class="muted">Loading…</p>}
      {live.data && live.data.apps.length === 0 && (
        <p class="muted">No apps yet. Create one with <code>cluster apps:create NAME</code> and deploy it with <code>cluster deploy -a NAME</code>.</p>
      )}
      {live.data && live.data.apps.length > 0 && (
        <div class="table-wrap">
          <table class="apps">
            <thead>
              <tr><th scope="col">App</th><th scope="col">Release</th><th scope="col">Formation</th><th scope="col">Up</th></tr>
            </thead>
            <tbody>
              {live.data.apps.map((a) => (
                <tr key={a.name}>
                  <th scope="row"><Link href={`/apps/${encodeURIComponent(a.name)}`}>{a.name}</Link></th>
                  <td data-label="Release">{releaseText(a)}</td>
                  <td data-label="Formation">{a.formation.length ? a.formation.map((f) => `${f.type}=${f.count}`).join(' ') : '-'}</td>
                  <td data-label="Up" class={a.up < a.desired ? 'warn-text' : ''}>{a.up}/{a.desired}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

/** The release that runs, and the newest when it is held back, as `cluster apps` says it. */
function releaseText(a: AppSummary): string {
  return describeLiveRelease(a, 'not deployed');
}
