/**
 * One live agent per name. Two servers given the same --name (a copied service file, a machine
 * cloned before it joined) would each end the other's lease at every registration, and both
 * would run the name's instances: a registration is refused while another live agent holds the
 * name. The holder is another agent when its address differs and the caller does not present its
 * lease (an agent restarting presents the lease it held: lease.json in its data dir). An agent
 * that left for its next run holds the name for its restart hold too, lease or not: its
 * instances run on meanwhile. Once the holder's lease and hold have run out, the name is free.
 */
import { decode, type AgentRecord, type RestartHoldRecord } from '../records';
import { FailedPreconditionError } from '../errors';
import type { ApiContext } from '../rpc/context';

/** How often a refusal of the same name and address is logged again. */
const SAY_AGAIN_MS = 60_000;

/** The other agent a name is held by. */
interface Holder {
  address: string;
  /** It left for its next run: the name is its for the restart hold (ms). */
  restartHoldMs?: number;
}

export class NameHolders {
  /** When a refusal of each name and address was last logged. */
  private readonly said = new Map<string, number>();

  constructor(
    private readonly ctx: Pick<ApiContext, 'view' | 'client' | 'keys' | 'logger'>,
    private readonly leaseTtlSeconds: number,
  ) {}

  /**
   * Throws when agent `id` registering from `address` (with `previousLease`, '' for none) is
   * another agent than the live or restarting holder of the name. `viewedLease`: the lease this
   * replica's view shows under the name. What the view shows is confirmed in etcd first: a view
   * that lags refuses nothing on old news, and a replica cut off from etcd answers with the
   * outage, on which the agent tries another replica.
   */
  async refuseIfHeldElsewhere(id: string, address: string, viewedLease: string | undefined, previousLease: string): Promise<void> {
    const holder = (await this.liveHolder(id, address, viewedLease, previousLease)) ?? (await this.restartingHolder(id, address, previousLease));
    if (!holder) return;
    // Said here too: whoever runs the control plane may not see the refused agent's log.
    const key = `${id} ${address}`;
    const saidAt = this.said.get(key);
    if (saidAt === undefined || Date.now() - saidAt >= SAY_AGAIN_MS) {
      if (this.said.size >= 1_000) this.said.clear();
      this.said.set(key, Date.now());
      this.ctx.logger.warn({ agent: id, holder: holder.address, refused: address, restarting: holder.restartHoldMs !== undefined }, 'refused a second agent under a name a live agent holds: every server needs its own --name');
    }
    const held = holder.restartHoldMs === undefined
      ? `is held by another agent, at ${holder.address}, whose lease is alive`
      : `is held by another agent, at ${holder.address}, which is restarting: its instances stay its own for the restart hold`;
    const until = holder.restartHoldMs === undefined ? `its lease runs out (within ${this.leaseTtlSeconds} s)` : `the hold runs out (within ${Math.ceil(holder.restartHoldMs / 1000)} s)`;
    throw new FailedPreconditionError(
      `agent id \`${id}\` ${held} (this one is at ${address}): every server needs its own --name. If that agent is gone for good, this one registers once ${until}`,
    );
  }

  /** Another agent registered under the name with a live lease. */
  private async liveHolder(id: string, address: string, viewedLease: string | undefined, previousLease: string): Promise<Holder | undefined> {
    const { view, client, keys } = this.ctx;
    const viewed = viewedLease === undefined ? undefined : view.agent(id);
    if (!viewed || viewedLease === previousLease || viewed.address === address) return undefined;
    const kv = (await client.kv.range({ key: Buffer.from(keys.agent(id)) })).kvs[0];
    const holder = decode<AgentRecord>(kv?.value);
    if (!kv || !holder || kv.lease === previousLease || holder.address === address) return undefined;
    return { address: holder.address };
  }

  /** Another agent that left for its next run under the name, its restart hold still on. */
  private async restartingHolder(id: string, address: string, previousLease: string): Promise<Holder | undefined> {
    const { view, client, keys } = this.ctx;
    const other = (hold: RestartHoldRecord | undefined): hold is RestartHoldRecord & { address: string } =>
      !!hold?.address && hold.address !== address && hold.leaseId !== previousLease;
    if (!other(view.restartHold(id))) return undefined;
    const hold = decode<RestartHoldRecord>((await client.kv.range({ key: Buffer.from(keys.restartHold(id)) })).kvs[0]?.value);
    return other(hold) ? { address: hold.address, restartHoldMs: hold.holdMs } : undefined;
  }
}
