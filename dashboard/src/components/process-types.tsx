/** Each process type with its desired count, how many are up, + / - and restart. */
import { post } from '../api';
import { attempt } from './notices';
import type { Ps } from '../types';

export function ProcessTypes(props: { app: string; ps: Ps }) {
  const { app, ps } = props;
  const base = `/api/apps/${encodeURIComponent(app)}`;
  const counts = new Map(ps.formation.map((f) => [f.type, f.count]));
  const scale = (type: string, change: number) =>
    void attempt(`${type}${change > 0 ? '+' : ''}${change}`, () => post(`${base}/scale`, { type, change }));
  const restart = (target: string) =>
    void attempt(`Restarting ${target || 'every instance'} of ${app} (rolling).`, () => post(`${base}/restart`, { target }));
  if (ps.process_types.length === 0) return <p class="muted">No process types yet: deploy the app with <code>cluster deploy -a {app}</code>.</p>;
  return (
    <>
      <ul class="types">
        {ps.process_types.map((type) => {
          const desired = counts.get(type) ?? 0;
          const up = ps.instances.filter((i) => i.type === type && i.state === 'up').length;
          return (
            <li class="type" key={type} data-type={type}>
              <span class="type-name">{type}</span>
              <span class="count" aria-live="polite">
                <strong data-role="desired" aria-label={`${type}: ${desired} desired`}>{desired}</strong>
                <span class={`up ${up < desired ? 'warn-text' : ''}`} data-role="up">{up} up</span>
              </span>
              <span class="scale">
                <button type="button" class="round" onClick={() => scale(type, -1)} disabled={desired === 0} aria-label={`Scale ${type} down by one`} title={`${type}-1`}>−</button>
                <button type="button" class="round" onClick={() => scale(type, 1)} aria-label={`Scale ${type} up by one`} title={`${type}+1`}>+</button>
              </span>
              <button type="button" class="quiet" onClick={() => restart(type)} aria-label={`Restart every ${type} instance`}>Restart</button>
            </li>
          );
        })}
      </ul>
      <p><button type="button" onClick={() => restart('')}>Restart all</button></p>
    </>
  );
}
