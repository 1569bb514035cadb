/**
 * A partitioned host healed: control plane (with etcd) and three agents each in a network
 * namespace of their own; one agent's link goes down long enough for its lease to expire,
 * then comes back. Needs root (netnsUnavailable() says why not).
 */
import { TestNetwork } from '../../../helpers/netns';
import { waitFor } from '../../../helpers/wait-for';
import { converge, deploySleeper, holds, observe, scale, settle } from '../observe';
import { snapshot } from '../invariants';
import { sleep, ttlMs, withCluster, type ChaosOptions } from './common';

const HOSTS = ['a1', 'a2', 'a3'];
/** Names and a subnet of the chaos suite's own, so it never removes the e2e suite's hosts. */
const SPACE = { prefix: 'clc-', subnet: '10.213.9' };

/**
 * While a2 is cut off, its instances come up on a1 and a3 (ps), nothing else moves; once
 * healed, a2 stops its copies (each name runs once across hosts), owns nothing, and is
 * registered again.
 */
export async function partitionedHostHealed(o: ChaosOptions): Promise<void> {
  const net = TestNetwork.create(['cp', ...HOSTS], SPACE);
  try {
    await withCluster({ network: { net, controlPlaneHost: 'cp' }, agents: HOSTS.map((id) => ({ id, host: id, ports: 1_000 })) }, async (cluster) => {
      const app = await deploySleeper(cluster, 'partition');
      const formation = { worker: o.count };
      let settled = await settle(cluster, app, o.count, HOSTS);
      for (let round = 0; round < o.rounds; round++) {
        const cutHost = HOSTS[(round + 1) % HOSTS.length]!;
        const rest = HOSTS.filter((h) => h !== cutHost);
        const stay = snapshot(settled.obs.ps, (i) => i.host !== cutHost);
        const moving = settled.obs.ps.filter((i) => i.host === cutHost).map((i) => i.name);
        if (moving.length === 0) throw new Error(`round ${round + 1}: ${cutHost} runs nothing, so cutting it off would test nothing`);
        net.setLink(cutHost, false);
        const cutAt = Date.now();
        // The cut host keeps its copies running (no --disconnected-grace), so only ps can say it moved.
        await waitFor(`${cutHost}'s instances up elsewhere in ps`, async () => {
          const { ps } = await observe(cluster, app);
          return moving.every((n) => ps.some((i) => i.name === n && i.state === 'up' && i.host !== cutHost));
        }, 30_000, 250).catch((err: Error) => { throw new Error(`round ${round + 1}: ${err.message}`); });
        o.figure('partitioned host: its instances up elsewhere after the cut', 's', (Date.now() - cutAt) / 1000);
        // Hold the partition past a lease TTL more, as a real one would last.
        await sleep(ttlMs(cluster));
        net.setLink(cutHost, true);
        const healedAt = Date.now();
        settled = await converge(cluster, app, { formation, agents: rest, unchanged: stay }, { since: healedAt, timeoutMs: 30_000 })
          .catch((err: Error) => { throw new Error(`round ${round + 1}, after healing ${cutHost}: ${err.message}`); });
        o.figure('partitioned host healed: one copy of each instance after the heal', 's', settled.ms / 1000);
        await waitFor(`${cutHost} registered again`, async () => {
          const res = await cluster.cliJson<{ agents: Array<{ id: string; state: string }> }>(['agents']);
          return res.agents.some((a) => a.id === cutHost && a.state === 'ready');
        }, 20_000, 250);
        await holds(cluster, app, { formation, agents: rest, unchanged: snapshot(settled.obs.ps) }, ttlMs(cluster));
        // Spread again for the next round: scale to zero and back (no fault in that).
        if (round + 1 < o.rounds) {
          await scale(cluster, app, { worker: 0 });
          await converge(cluster, app, { formation: { worker: 0 }, agents: HOSTS });
          settled = await settle(cluster, app, o.count, HOSTS);
        }
      }
    });
  } finally {
    net.destroy();
  }
}
