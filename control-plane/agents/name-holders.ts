/**
 * One live agent per name. Two servers given the same --name (a copied service file, a machine
 * cloned before it joined) would each end the other's lease at every registration, and both
 * would run the name's instances: a registration is refused while another live agent holds the
 * name. The holder is another agent when its address differs and the caller does not present its
 * lease (an agent restarting presents the lease it held: lease.json in its data dir). Once the
 * holder's lease runs out, the name is free.
 */
import { decode, type AgentRecord } from '../records';
import { FailedPreconditionError } from '../errors';
import type { ApiContext } from '../rpc/context';

/** How often a refusal of the same name and address is logged again. */
const SAY_AGAIN_MS = 60_000;

export class NameHolders {
  /** When a refusal of each name and address was last logged. */
  private readonly said = new Map<string, number>();

  constructor(
    private readonly ctx: Pick<ApiContext, 'view' | 'client' | 'keys' | 'logger'>,
    private readonly leaseTtlSeconds: number,
  ) {}

  /**
   * Throws when agent `id` registering from `address` (with `previousLease`, '' for none) is
   * another agent than the live holder of the name. `viewedLease`: the lease this replica's view
   * shows under the name. What the view shows is confirmed in etcd first: a view that lags
   * refuses nothing on old news, and a replica cut off from etcd answers with the outage, on
   * which the agent tries another replica.
   */
  async refuseIfHeldElsewhere(id: string, address: string, viewedLease: string | undefined, previousLease: string): Promise<void> {
    const { view, client, keys, logger } = this.ctx;
    const viewed = viewedLease === undefined ? undefined : view.agent(id);
    if (!viewed || viewedLease === previousLease || viewed.address === address) return;
    const kv = (await client.kv.range({ key: Buffer.from(keys.agent(id)) })).kvs[0];
    const holder = decode<AgentRecord>(kv?.value);
    if (!kv || !holder || kv.lease === previousLease || holder.address === address) return;
    // Said here too: whoever runs the control plane may not see the refused agent's log.
    const key = `${id} ${address}`;
    const saidAt = this.said.get(key);
    if (saidAt === undefined || Date.now() - saidAt >= SAY_AGAIN_MS) {
      if (this.said.size >= 1_000) this.said.clear();
      this.said.set(key, Date.now());
      logger.warn({ agent: id, holder: holder.address, refused: address }, 'refused a second agent under a name a live agent holds: every server needs its own --name');
    }
    throw new FailedPreconditionError(
      `agent id \`${id}\` is held by another agent, at ${holder.address}, whose lease is alive (this one is at ${address}): ` +
        `every server needs its own --name. If that agent is gone for good, this one registers once its lease runs out (within ${this.leaseTtlSeconds} s)`,
    );
  }
}
