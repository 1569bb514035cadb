/** The slugs some release of some app names (apps:destroy removes an app's releases). */
import type { Etcd3 } from 'etcd3';
import type { Keys } from '../keys';
import { decode, type ReleaseRecord } from '../records';
import { isSlugDigest } from './slug-store';

export async function referencedSlugs(client: Etcd3, keys: Keys): Promise<Set<string>> {
  const out = new Set<string>();
  const values = await client.getAll().prefix(keys.allReleases()).buffers();
  for (const raw of Object.values(values)) {
    const release = decode<ReleaseRecord>(raw);
    if (release && typeof release.slug === 'string' && isSlugDigest(release.slug)) out.add(release.slug);
  }
  return out;
}
