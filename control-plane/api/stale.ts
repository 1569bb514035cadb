/** The `stale` member of listings: set while this replica cannot read etcd (see etcd/health.ts). */
import type { Staleness } from '../etcd/health';

export function staleOf(ctx: { health: { staleness(): Staleness | undefined } }): { stale_ms: number; reason: string } | undefined {
  const stale = ctx.health.staleness();
  return stale && { stale_ms: stale.ageMs, reason: stale.message };
}
