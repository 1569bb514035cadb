/**
 * CSRF protection for state-changing requests. The session cookie is SameSite=Strict already;
 * on top of that every POST must carry the session's own token in a header, which the page
 * reads from GET /api/session (same origin only: no CORS headers are ever sent), and, when
 * the browser names an Origin, it must be this server.
 */
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export const CSRF_HEADER = 'x-csrf-token';

/** Why the request fails the CSRF check, or undefined when it passes. */
export function csrfProblem(req: IncomingMessage, sessionToken: string): string | undefined {
  const origin = req.headers.origin;
  if (origin !== undefined && origin !== 'null') {
    let host: string | undefined;
    try {
      host = new URL(origin).host;
    } catch {
      host = undefined;
    }
    // Behind a reverse proxy that rewrites Host (nginx's default), the host the browser used comes
    // as X-Forwarded-Host. A cross-site page cannot set that header (nor the token checked below).
    const forwarded = req.headers['x-forwarded-host'];
    const seen = [req.headers.host, ...(typeof forwarded === 'string' ? forwarded.split(',').map((h) => h.trim()) : [])];
    if (host === undefined || !seen.includes(host)) return `requests from ${origin} are not accepted`;
  }
  const given = req.headers[CSRF_HEADER];
  if (typeof given !== 'string' || given === '') return `the ${CSRF_HEADER} header is missing: reload the page`;
  const a = Buffer.from(given);
  const b = Buffer.from(sessionToken);
  if (a.length !== b.length || !timingSafeEqual(a, b)) return 'the CSRF token is stale or wrong (from another session?): reload the page';
  return undefined;
}
