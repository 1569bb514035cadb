/** Every agent: state, datacenter, labels, instances and one-offs; drain/activate, remove (once down) and the "serves web" toggle. */
import { post, useLive } from '../api';
import { attempt } from '../components/notices';
import { Reconnecting, StaleBanner } from '../components/stale';
import { ago } from '../format';
import type { Agent, Agents } from '../types';

function AgentRow(props: { agent: Agent }) {
  const a = props.agent;
  const path = `/api/agents/${encodeURIComponent(a.id)}`;
  const draining = a.state === 'draining';
  const drain = () => {
    if (!confirm(`Drain ${a.id}? Its instances move to other hosts and nothing new is placed there.`)) return;
    void attempt(`Draining ${a.id}.`, () => post(`${path}/drain`, {}));
  };
  const activate = () => void attempt(`${a.id} is active again.`, () => post(`${path}/activate`, {}));
  const remove = () => {
    if (!confirm(`Remove ${a.id}? It is no longer listed; if its agent starts again, it registers anew.`)) return;
    void attempt(`Removed ${a.id}.`, () => post(`${path}/remove`, {}));
  };
  const toggleWeb = () => void attempt(`${a.id} ${a.web ? 'runs no web now' : 'may run web now'}.`, () => post(`${path}/web`, { web: !a.web }));
  const labels = Object.entries(a.labels ?? {});
  return (
    <tr data-agent={a.id}>
      <th scope="row">{a.id}<div class="muted small">{a.address}</div></th>
      <td data-label="State"><span class={`state state-${a.state}`}>{a.state}</span></td>
      <td data-label="Datacenter">{a.datacenter || '-'}</td>
      <td data-label="Labels">{labels.length ? labels.map(([k, v]) => <span class="label" key={k}>{k}={v}</span>) : '-'}</td>
      <td data-label="Instances">
        {a.instances}{a.capacity ? ` / ${a.capacity}` : ''}
        {a.one_offs ? <div class="muted small one-offs">+ {a.one_offs} one-off{a.one_offs === 1 ? '' : 's'}</div> : null}
      </td>
      <td data-label="Heartbeat">{a.heartbeat_age_ms >= 0 ? ago(Date.now() - a.heartbeat_age_ms, Date.now()) : '-'}</td>
      <td data-label="Serves web">
        <label class="switch">
          <input type="checkbox" role="switch" checked={a.web} onChange={toggleWeb} aria-label={`${a.id} serves web`} />
          <span>{a.web ? 'on' : 'off'}</span>
        </label>
      </td>
      <td class="actions">
        {draining || a.drained
          ? <button type="button" onClick={activate}>Activate</button>
          : a.state !== 'down' && <button type="button" onClick={drain} disabled={a.state === 'unreachable' || a.state === 'restarting'}>Drain</button>}
        {a.state === 'down' && <button type="button" onClick={remove}>Remove</button>}
      </td>
    </tr>
  );
}

export function AgentsPage() {
  const live = useLive<Agents>('/api/events/agents');
  return (
    <section aria-labelledby="agents-title">
      <h1 id="agents-title">Agents</h1>
      <StaleBanner stale={live.data?.stale} />
      <Reconnecting live={live} />
      {live.error && <p class="banner error" role="alert">{live.error}</p>}
      {!live.data && !live.error && <p class="muted">Loading…</p>}
      {live.data && live.data.agents.length === 0 && <p class="muted">No agents. Add servers with <code>cluster agents:token</code>.</p>}
      {live.data && live.data.agents.length > 0 && (
        <div class="table-wrap">
          <table class="agents">
            <thead>
              <tr>
                <th scope="col">Agent</th><th scope="col">State</th><th scope="col">Datacenter</th><th scope="col">Labels</th>
                <th scope="col">Instances</th><th scope="col">Heartbeat</th><th scope="col">Serves web</th><th scope="col"><span class="sr-only">Actions</span></th>
              </tr>
            </thead>
            <tbody>{live.data.agents.map((a) => <AgentRow key={a.id} agent={a} />)}</tbody>
          </table>
        </div>
      )}
    </section>
  );
}
