/** One app: process types with + / -, instances, live logs, releases with rollback. */
import { useLive } from '../api';
import { InstancesTable } from '../components/instances-table';
import { Link } from '../components/link';
import { LogPane } from '../components/log-pane';
import { ProcessTypes } from '../components/process-types';
import { ReleasesTable } from '../components/releases-table';
import { Reconnecting, StaleBanner } from '../components/stale';
import type { AppView } from '../types';

export function AppPage(props: { app: string }) {
  const live = useLive<AppView>(`/api/events/apps/${encodeURIComponent(props.app)}`);
  const view = live.data;
  const current = view?.releases.find((r) => r.deployed);
  return (
    <article aria-labelledby="app-title">
      <p class="crumbs"><Link href="/">Apps</Link> /</p>
      <h1 id="app-title">{props.app} {current && <span class="muted">v{current.version}</span>}</h1>
      {live.error && <p class="banner error" role="alert">{live.error}</p>}
      <Reconnecting live={live} />
      {!view && !live.error && <p class="muted">Loading…</p>}
      {view && (
        <>
          <StaleBanner stale={view.ps.stale} />
          <section aria-labelledby="types-title">
            <h2 id="types-title">Processes</h2>
            <ProcessTypes app={props.app} ps={view.ps} />
          </section>
          <section aria-labelledby="instances-title">
            <h2 id="instances-title">Instances</h2>
            <InstancesTable app={props.app} instances={view.ps.instances} />
          </section>
          <section aria-labelledby="logs-title">
            <h2 id="logs-title">Logs</h2>
            <LogPane app={props.app} types={view.ps.process_types} instances={view.ps.instances} />
          </section>
          <section aria-labelledby="releases-title">
            <h2 id="releases-title">Releases</h2>
            <ReleasesTable app={props.app} releases={view.releases} />
          </section>
        </>
      )}
    </article>
  );
}
