/** Talking to the control plane: JSON requests with the CSRF token, and live streams. */
import { useEffect, useState } from 'preact/hooks';

let csrf: Promise<string> | undefined;

/** The session's CSRF token (fetched once per page load; never shown). */
function csrfToken(): Promise<string> {
  csrf ??= getJson<{ csrf: string }>('/api/session').then((s) => s.csrf);
  return csrf;
}

export class ApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** Called when the server says the session is gone. */
let onLoggedOut: (message: string) => void = () => undefined;
export function whenLoggedOut(listener: (message: string) => void): void {
  onLoggedOut = listener;
}

async function parse<T>(res: Response): Promise<T> {
  const body = (await res.json().catch(() => ({}))) as { error?: string };
  if (res.status === 401) onLoggedOut(body.error ?? 'You are not logged in.');
  if (!res.ok) throw new ApiError(res.status, body.error ?? `the control plane answered ${res.status}`);
  return body as T;
}

export async function getJson<T>(path: string): Promise<T> {
  return parse<T>(await fetch(path, { credentials: 'same-origin' }));
}

export async function post<T>(path: string, body: unknown): Promise<T> {
  const token = await csrfToken();
  return parse<T>(
    await fetch(path, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json', 'x-csrf-token': token },
      body: JSON.stringify(body),
    }),
  );
}

export interface Live<T> {
  data?: T;
  error?: string;
  connected: boolean;
}

/** The latest `state` event of a server-sent stream (reconnects by itself). */
export function useLive<T>(path: string): Live<T> {
  const [live, setLive] = useState<Live<T>>({ connected: false });
  useEffect(() => {
    setLive({ connected: false });
    const source = new EventSource(path);
    source.addEventListener('state', (e) => setLive({ data: JSON.parse((e as MessageEvent<string>).data) as T, connected: true }));
    source.addEventListener('problem', (e) => {
      const p = JSON.parse((e as MessageEvent<string>).data) as { error: string };
      setLive((l) => ({ ...l, error: p.error, connected: true }));
    });
    source.addEventListener('expired', (e) => {
      source.close();
      onLoggedOut((JSON.parse((e as MessageEvent<string>).data) as { error: string }).error);
    });
    source.onerror = () => {
      setLive((l) => ({ ...l, connected: false }));
      // A stream refused at once (401, 404) is not retried by the browser: say why.
      if (source.readyState === EventSource.CLOSED) {
        void fetch(path, { credentials: 'same-origin' }).then((res) => (res.ok ? undefined : parse(res))).catch((err: Error) => setLive((l) => ({ ...l, error: err.message })));
      }
    };
    return () => source.close();
  }, [path]);
  return live;
}
