/**
 * What is known of an app's instances beyond their assignments: the states their agents report
 * (`status/<app>/<instance>/<agent>`, or `status/<app>/@<agent>` for all of them, under each agent's lease) and the instances the leader
 * could not place (`unplaced/<app>`). Read from etcd, not from a mirror: `ps` must show what
 * agents report now.
 */
import type { Etcd3 } from 'etcd3';
import type { Keys } from '../keys';
import { decode, encode, type StatusRecord } from '../records';
import type { Unplaced } from '../scheduler/types';
import { countingStatuses, decodePackedStatuses } from './packed-statuses';

/** One agent's reports of an app's instances, in both layouts, with their etcd revisions. */
interface AgentReports {
  packed?: { modRevision: number; instances: Map<string, StatusRecord> };
  singles: Array<{ instance: string; modRevision: number; status: StatusRecord }>;
}

/** One agent's report of one instance. */
export interface ReportedStatus {
  instance: string;
  agentId: string;
  status: StatusRecord;
}

export class InstanceStatusReader {
  constructor(
    private readonly client: Etcd3,
    private readonly keys: Keys,
  ) {}

  /**
   * Every report of every instance of `app` (an instance that moves is reported by two agents),
   * from either layout, as packed-statuses.ts's countingStatuses says.
   */
  async reported(app: string): Promise<ReportedStatus[]> {
    const res = await this.client.getAll().prefix(this.keys.statuses(app)).exec();
    const byAgent = new Map<string, AgentReports>();
    const reportsOf = (agentId: string) => {
      let reports = byAgent.get(agentId);
      if (!reports) byAgent.set(agentId, (reports = { singles: [] }));
      return reports;
    };
    for (const kv of res.kvs) {
      const key = kv.key.toString();
      const modRevision = Number(kv.mod_revision);
      const single = this.keys.parseStatus(key);
      if (single) {
        const status = decode<StatusRecord>(kv.value);
        if (single.app === app && status) reportsOf(single.agentId).singles.push({ instance: single.instance, modRevision, status });
        continue;
      }
      const packedKey = this.keys.parsePackedStatus(key);
      const packed = packedKey?.app === app ? decodePackedStatuses(kv.value, packedKey.agentId) : undefined;
      if (packed) reportsOf(packedKey!.agentId).packed = { modRevision, instances: packed.instances };
    }
    const out: ReportedStatus[] = [];
    for (const [agentId, reports] of byAgent) {
      for (const [instance, status] of countingStatuses(reports.packed, reports.singles)) out.push({ instance, agentId, status });
    }
    return out;
  }

  /** The agents that report `instance` of `app`. */
  async reportingAgents(app: string, instance: string): Promise<string[]> {
    const reported = await this.reported(app);
    return reported.filter((r) => r.instance === instance).map((r) => r.agentId);
  }

  /** The instances of `app` the leader could not place, and why (UnplacedList). */
  async unplaced(app: string): Promise<UnplacedList> {
    const kv = (await this.client.get(this.keys.unplaced(app)).exec()).kvs[0];
    return decodeUnplaced(kv?.value, kv && Number(kv.mod_revision));
  }
}

/**
 * The value of `unplaced/<app>` (written by the leader's scheduler loop): the instances, and
 * `agentsRevision`, the newest agent registration the plan saw (0: none). A list made before a
 * registration may be wrong now ("no agents registered"): see isOutdated. The revision also makes
 * the first round after a registration write the list again, even when its reasons stay the same.
 * A leader of an older version writes no revision.
 */
export interface UnplacedList {
  instances: Unplaced[];
  agentsRevision?: number;
  /** The etcd revision the key was written at, when read from etcd with it. */
  writtenAt?: number;
}

export function encodeUnplaced(instances: Unplaced[], agentsRevision = 0): string {
  return encode({ instances, agentsRevision });
}

export function decodeUnplaced(raw: Buffer | null | undefined, writtenAt?: number): UnplacedList {
  const list = decode<UnplacedList>(raw);
  return {
    instances: list?.instances ?? [],
    agentsRevision: typeof list?.agentsRevision === 'number' ? list.agentsRevision : undefined,
    ...(writtenAt !== undefined ? { writtenAt } : {}),
  };
}

/**
 * Whether the leader made `list` before the newest registration this replica knows of
 * (`newestRegistration`, ClusterView.agentsRevision): its reasons are then those of a smaller
 * pool, and the leader places again after its settling wait. A list without a revision, from a
 * leader of an older version, is judged by the revision it was written at: such a leader writes it
 * again only when its reasons change, so a reason that still holds after a registration may then
 * show as `waiting for the scheduler` until it changes; but the list the last run of an older
 * version left in etcd ("no agents registered", written as its agents stopped) does not fail the
 * first `scale --wait` after the upgrade, before the new leader's first round writes it again.
 */
export function isOutdated(list: UnplacedList, newestRegistration: number): boolean {
  const made = list.agentsRevision ?? list.writtenAt;
  return made !== undefined && made < newestRegistration;
}
