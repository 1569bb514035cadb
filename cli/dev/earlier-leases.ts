/**
 * What an earlier run of `cluster dev` left under etcd leases: its agents' registrations and
 * their instances' statuses, its control plane's leadership and replica records. None of that
 * run's daemons runs any more (one etcd at a time holds the data dir), but etcd started again
 * gives every lease its whole TTL: for seconds `ps` would list the earlier run's processes `up`,
 * with pids long gone, and dev's own wait for the example app could count them.
 *
 * Ending every lease before the control plane starts keeps what is not under a lease (apps,
 * releases, formations, assignments): each agent gets its instances back once it registers
 * again, and until then `ps` says it is waiting for it (docs/high-availability.md, "Liveness
 * and failover grace"). The hosts' log-source records end too: each agent of this run writes
 * its own again when it registers, and one of the earlier run that this run does not start is
 * forgotten once its instances have moved (earlier-agents.ts), which ends them anyway.
 */
import { Etcd3 } from 'etcd3';

/** Revokes every lease of the etcd at `url`; resolves how many there were. */
export async function endEarlierLeases(url: string): Promise<number> {
  const client = new Etcd3({ hosts: url, dialTimeout: 2_000 });
  try {
    const { leases } = await client.leaseClient.leaseLeases();
    await Promise.all(leases.map((lease) => client.leaseClient.leaseRevoke({ ID: lease.ID })));
    return leases.length;
  } finally {
    client.close();
  }
}
