/** The dashboard's session cookie: read from a Cookie header, written as a Set-Cookie value. */

export const SESSION_COOKIE = 'cluster_session';

/** The value of cookie `name` in a Cookie header (undefined when absent or malformed). */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header || header.length > 8192) return undefined;
  for (const part of header.split(';')) {
    const at = part.indexOf('=');
    if (at > 0 && part.slice(0, at).trim() === name) return part.slice(at + 1).trim();
  }
  return undefined;
}

/**
 * The session cookie: HttpOnly (no script reads it), SameSite=Strict (no other site's page
 * sends it), Secure when served over TLS (a browser refuses Secure cookies over plain HTTP
 * except on localhost, and plain HTTP is only served on loopback).
 */
export function sessionCookie(value: string, opts: { maxAgeS: number; secure: boolean }): string {
  return [
    `${SESSION_COOKIE}=${value}`,
    'Path=/',
    `Max-Age=${Math.max(0, Math.floor(opts.maxAgeS))}`,
    'HttpOnly',
    'SameSite=Strict',
    ...(opts.secure ? ['Secure'] : []),
  ].join('; ');
}
