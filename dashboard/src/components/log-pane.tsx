/**
 * The app's log lines, merged from every host as `cluster logs --tail` shows them: recent
 * history, then live lines. It follows the newest line until scrolled up (paused: new lines
 * are kept and counted) and follows again at the bottom or on "Follow".
 */
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import type { Instance, LogLine } from '../types';
import { appendLines } from '../../../lib/log-pane-lines';

const MAX_LINES = 2000;

function time(t: number): string {
  const d = new Date(t);
  return `${d.toLocaleTimeString([], { hour12: false })}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

export function LogPane(props: { app: string; types: string[]; instances: Instance[] }) {
  const [filter, setFilter] = useState('');
  const [lines, setLines] = useState<readonly LogLine[]>([]);
  const linesRef = useRef<readonly LogLine[]>([]);
  const [unseen, setUnseen] = useState(0);
  const [following, setFollowing] = useState(true);
  const [problem, setProblem] = useState<string | undefined>();
  const box = useRef<HTMLDivElement>(null);
  const followingRef = useRef(true);

  useEffect(() => {
    linesRef.current = [];
    setLines([]);
    setUnseen(0);
    setProblem(undefined);
    const [kind, value] = filter.split(':');
    const query = kind === 'type' ? `?type=${encodeURIComponent(value!)}` : kind === 'instance' ? `?instance=${encodeURIComponent(value!)}` : '';
    const source = new EventSource(`/api/apps/${encodeURIComponent(props.app)}/logs${query}`);
    source.addEventListener('lines', (e) => {
      const batch = JSON.parse((e as MessageEvent<string>).data) as LogLine[];
      // After a reconnect the stream repeats recent history: only new lines are added (lib/log-pane-lines.ts).
      const { lines: next, added } = appendLines(linesRef.current, batch, MAX_LINES);
      if (added === 0) return;
      linesRef.current = next;
      setLines(next);
      if (!followingRef.current) setUnseen((n) => n + added);
    });
    source.addEventListener('warnings', (e) => setProblem((JSON.parse((e as MessageEvent<string>).data) as string[]).join('; ')));
    source.addEventListener('problem', (e) => {
      setProblem((JSON.parse((e as MessageEvent<string>).data) as { error: string }).error);
      source.close();
    });
    source.onopen = () => setProblem(undefined);
    return () => source.close();
  }, [props.app, filter]);

  useLayoutEffect(() => {
    const el = box.current;
    if (el && followingRef.current) el.scrollTop = el.scrollHeight;
  }, [lines]);

  const follow = (on: boolean) => {
    followingRef.current = on;
    setFollowing(on);
    if (on) {
      setUnseen(0);
      const el = box.current;
      if (el) el.scrollTop = el.scrollHeight;
    }
  };
  const onScroll = () => {
    const el = box.current;
    if (!el) return;
    const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < 8;
    if (atBottom !== followingRef.current) follow(atBottom);
  };

  return (
    <div class="logs">
      <div class="log-controls">
        <label>
          Show{' '}
          <select value={filter} onChange={(e) => setFilter((e.currentTarget as HTMLSelectElement).value)} aria-label="Which logs to show">
            <option value="">every process</option>
            {props.types.map((t) => <option key={`t${t}`} value={`type:${t}`}>{t} (all)</option>)}
            {props.instances.filter((i) => i.type !== 'run').map((i) => <option key={`i${i.name}`} value={`instance:${i.name}`}>{i.name}</option>)}
          </select>
        </label>
        <span class="log-state" role="status">
          {following ? 'Following' : `Paused${unseen ? `: ${unseen} new line${unseen === 1 ? '' : 's'}` : ''}`}
        </span>
        {!following && <button type="button" onClick={() => follow(true)}>Follow</button>}
      </div>
      {problem && <p class="banner warn">{problem}</p>}
      <div class="log-lines" ref={box} onScroll={onScroll} tabIndex={0} role="log" aria-label={`Logs of ${props.app}`}>
        {lines.length === 0 && <div class="muted">No lines yet.</div>}
        {lines.map((l, i) => (
          <div class={`line ${l.stream === 'system' ? 'system' : ''} ${l.stream === 'stderr' ? 'stderr' : ''}`} key={i}>
            <span class="t">{time(l.t)}</span> <span class="who">{l.stream === 'system' ? 'cluster' : 'app'}[{l.instance}]</span>{' '}
            <span class="host">{l.host}</span> <span class="text">{l.text}</span>
          </div>
        ))}
      </div>
    </div>
  );
}
