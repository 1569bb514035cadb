/**
 * An instance's restart token: the app's (`*`), its type's and its own token from the
 * formation's `restartTokens`, joined with `/` (empty parts kept), so that any `cluster restart`
 * changes the token of exactly the instances it targets. The leader puts it in each assignment;
 * the agent restarts a process whose token differs and reports the token it started with, so
 * `restart --wait` can tell a restarted process from one that is not yet.
 */

/** Which part of the token a restart of the whole app, a type or one instance changes. */
export const RESTART_TOKEN_PART = { app: 0, type: 1, instance: 2 } as const;

/** `/` separates the parts, so it (and the escape character) is escaped inside them: the join stays injective. */
export function escapeToken(token: string): string {
  return token.includes('/') || token.includes('%') ? token.replace(/%/g, '%25').replace(/\//g, '%2F') : token;
}

/** The parts of a reported token, unescaped (app, type, instance); [] for a token of another form. */
export function restartTokenParts(token: string): string[] {
  const parts = token.split('/');
  if (parts.length !== 3) return [];
  return parts.map((p) => (p.includes('%') ? p.replace(/%2F/g, '/').replace(/%25/g, '%') : p));
}
