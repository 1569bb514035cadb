/**
 * What `rollback vN` and `releases:info vN` say of a version the app never had: one wording in
 * the CLI and the control plane. Releases are never pruned, so an app has v1 to its newest.
 */
export function noSuchRelease(app: string, version: number, newest: number): string {
  return `${app} has no release v${version} (${newest === 1 ? 'it has only v1' : `it has v1 to v${newest}`})`;
}
