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
import { decodePackedStatuses, singleIsNewer, type PackedStatuses } from './packed-statuses';

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
   * from either layout, the newer report of an agent counting (packed-statuses.ts).
   */
  async reported(app: string): Promise<ReportedStatus[]> {
    const values = await this.client.getAll().prefix(this.keys.statuses(app)).buffers();
    const packed = new Map<string, PackedStatuses>();
    const single: ReportedStatus[] = [];
    for (const [key, raw] of Object.entries(values)) {
      const parsed = this.keys.parseStatus(key);
      if (parsed) {
        const status = decode<StatusRecord>(raw);
        if (parsed.app === app && status) single.push({ instance: parsed.instance, agentId: parsed.agentId, status });
        continue;
      }
      const packedKey = this.keys.parsePackedStatus(key);
      const statuses = packedKey?.app === app ? decodePackedStatuses(raw, packedKey.agentId) : undefined;
      if (statuses) packed.set(packedKey!.agentId, statuses);
    }
    const out: ReportedStatus[] = [];
    const overridden = new Set<string>();
    for (const s of single) {
      if (!singleIsNewer(packed.get(s.agentId), s.status)) continue;
      out.push(s);
      overridden.add(`${s.agentId}/${s.instance}`);
    }
    for (const [agentId, statuses] of packed) {
      for (const [instance, status] of statuses.instances) {
        if (!overridden.has(`${agentId}/${instance}`)) out.push({ instance, agentId, status });
      }
    }
    return out;
  }

  /** The agents that report `instance` of `app`. */
  async reportingAgents(app: string, instance: string): Promise<string[]> {
    const reported = await this.reported(app);
    return reported.filter((r) => r.instance === instance).map((r) => r.agentId);
  }

  /** The instances of `app` the leader could not place, and why. */
  async unplaced(app: string): Promise<Unplaced[]> {
    return decodeUnplaced(await this.client.get(this.keys.unplaced(app)).buffer());
  }
}

/** The value of `unplaced/<app>` (written by the leader's scheduler loop). */
export function encodeUnplaced(instances: Unplaced[]): string {
  return encode({ instances });
}

export function decodeUnplaced(raw: Buffer | null | undefined): Unplaced[] {
  return decode<{ instances: Unplaced[] }>(raw)?.instances ?? [];
}
