/** Logging in to a test cluster's dashboard without a browser, for the JSON API tests. */
import type { TestCluster } from './test-cluster';

/** A fresh one-use login link from `cluster dashboard --print-url`. */
export async function loginLink(cluster: TestCluster, ttl = '5m'): Promise<string> {
  const res = await cluster.cli(['dashboard', '--print-url', '--ttl', ttl]);
  if (res.code !== 0) throw new Error(`cluster dashboard failed (${res.code}): ${res.stderr}`);
  return res.stdout.trim();
}

/** A logged-in session: its cookie (name=value) and CSRF token. */
export interface ApiSession {
  base: string;
  cookie: string;
  csrf: string;
}

export async function apiSession(cluster: TestCluster): Promise<ApiSession> {
  const link = new URL(await loginLink(cluster));
  const res = await fetch(link, { redirect: 'manual' });
  if (res.status !== 303) throw new Error(`login answered ${res.status}`);
  const cookie = (res.headers.get('set-cookie') ?? '').split(';')[0]!;
  const session = await fetch(new URL('/api/session', link), { headers: { cookie } });
  const { csrf } = (await session.json()) as { csrf: string };
  return { base: link.origin, cookie, csrf };
}

/** A JSON request with the session's cookie (and CSRF token unless told otherwise). */
export async function request(s: ApiSession, method: 'GET' | 'POST', path: string, body?: unknown, opts: { csrf?: string | null; cookie?: string } = {}): Promise<{ status: number; body: { error?: string } & Record<string, unknown> }> {
  const headers: Record<string, string> = { cookie: opts.cookie ?? s.cookie };
  const csrf = opts.csrf === undefined ? s.csrf : opts.csrf;
  if (csrf !== null) headers['x-csrf-token'] = csrf;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${s.base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let parsed: Record<string, unknown> = {};
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {
    parsed = { text };
  }
  return { status: res.status, body: parsed };
}
