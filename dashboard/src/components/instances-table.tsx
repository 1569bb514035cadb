/** Every instance: state, host, pid, uptime, restarts, CPU, memory, why it is not up; restart one. */
import { post } from '../api';
import { cpu, memory, uptime } from '../format';
import { attempt } from './notices';
import { useNow } from './use-now';
import type { Instance } from '../types';

export function InstancesTable(props: { app: string; instances: Instance[] }) {
  const now = useNow();
  const restart = (name: string) =>
    void attempt(`Restarting ${name}.`, () => post(`/api/apps/${encodeURIComponent(props.app)}/restart`, { target: name }));
  if (props.instances.length === 0) return <p class="muted">No instances: scale a process type up with +.</p>;
  return (
    <div class="table-wrap">
      <table class="instances">
        <thead>
          <tr>
            <th scope="col">Instance</th><th scope="col">State</th><th scope="col">Host</th><th scope="col">PID</th>
            <th scope="col">Uptime</th><th scope="col">Restarts</th><th scope="col">CPU</th><th scope="col">Memory</th>
            <th scope="col">Why not up</th><th scope="col"><span class="sr-only">Actions</span></th>
          </tr>
        </thead>
        <tbody>
          {props.instances.map((i) => (
            <tr key={i.name} data-instance={i.name}>
              <th scope="row">{i.name}</th>
              <td data-label="State"><span class={`state state-${i.state}`}>{i.state}</span></td>
              <td data-label="Host">{i.host || '-'}</td>
              <td data-label="PID" data-role="pid">{i.pid || '-'}</td>
              <td data-label="Uptime">{i.state === 'up' ? uptime(i.started_at_ms, now) : '-'}</td>
              <td data-label="Restarts">{i.restarts ?? 0}</td>
              <td data-label="CPU" data-role="cpu">{cpu(i.cpu_percent)}</td>
              <td data-label="Memory" data-role="memory">{memory(i.rss_bytes)}</td>
              <td data-label="Why not up" class="reason">{i.state === 'up' ? '' : i.reason}</td>
              <td class="actions">
                {i.type !== 'run' && (
                  <button type="button" class="quiet" onClick={() => restart(i.name)} aria-label={`Restart ${i.name}`}>Restart</button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
