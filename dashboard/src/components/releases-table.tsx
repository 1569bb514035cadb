/** Releases, newest first, with rollback to any earlier one. */
import { post } from '../api';
import { when } from '../format';
import { attempt } from './notices';
import type { Release } from '../types';

export function ReleasesTable(props: { app: string; releases: Release[] }) {
  const rollback = (version: number) => {
    if (!confirm(`Roll ${props.app} back to v${version}? A new release with v${version}'s code and config is made, and instances restart rolling.`)) return;
    void attempt(`Rolling back to v${version}.`, () => post(`/api/apps/${encodeURIComponent(props.app)}/rollback`, { version }));
  };
  if (props.releases.length === 0) return <p class="muted">No releases yet.</p>;
  return (
    <div class="table-wrap">
      <table class="releases">
        <thead>
          <tr><th scope="col">Release</th><th scope="col">Description</th><th scope="col">When</th><th scope="col">Phase</th><th scope="col"><span class="sr-only">Actions</span></th></tr>
        </thead>
        <tbody>
          {props.releases.map((r) => (
            <tr key={r.version} data-release={r.version}>
              <th scope="row">v{r.version}{r.deployed && <span class="label current">current</span>}</th>
              <td data-label="Description">{r.description}</td>
              <td data-label="When">{when(r.created_at_ms)}</td>
              <td data-label="Phase">{r.phase ? `${r.phase}${r.phase_reason ? `: ${r.phase_reason}` : ''}` : '-'}</td>
              <td class="actions">
                {!r.deployed && <button type="button" class="quiet" onClick={() => rollback(r.version)} aria-label={`Roll back to v${r.version}`}>Roll back</button>}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
