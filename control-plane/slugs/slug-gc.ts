/** Which stored slugs garbage collection may delete: a pure decision, tested as a table. */
import type { StoredSlug } from './slug-store';

/**
 * The slugs no release references and that were written more than `graceMs` ago. The grace
 * covers a deploy in flight: its slug is stored (and copied to the other replicas) before
 * the release that names it is written.
 */
export function slugsToCollect(stored: StoredSlug[], referenced: ReadonlySet<string>, nowMs: number, graceMs: number): string[] {
  return stored
    .filter((slug) => !referenced.has(slug.digest) && nowMs - slug.mtimeMs >= graceMs)
    .map((slug) => slug.digest);
}

/** The referenced slugs this replica does not hold (what a background sync fetches). */
export function slugsToFetch(stored: StoredSlug[], referenced: ReadonlySet<string>): string[] {
  const held = new Set(stored.map((slug) => slug.digest));
  return [...referenced].filter((digest) => !held.has(digest)).sort();
}
