/**
 * What is known of an app's instances beyond their assignments: the states their agents report
 * (`status/<app>/<instance>/<agent>`, under each agent's lease) and the instances the leader
 * could not place (`unplaced/<app>`). Read from etcd, not from a mirror: `ps` must show what
 * agents report now.
 */
import type { Etcd3 } from 'etcd3';
import type { Keys } from '../keys';
import { decode, encode, type StatusRecord } from '../records';
import type { Unplaced } from '../scheduler/types';

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

  /** Every report of every instance of `app` (an instance that moves is reported by two agents). */
  async reported(app: string): Promise<ReportedStatus[]> {
    const values = await this.client.getAll().prefix(this.keys.statuses(app)).buffers();
    const out: ReportedStatus[] = [];
    for (const [key, raw] of Object.entries(values)) {
      const parsed = this.keys.parseStatus(key);
      const status = decode<StatusRecord>(raw);
      if (parsed && parsed.app === app && status) out.push({ instance: parsed.instance, agentId: parsed.agentId, status });
    }
    return out;
  }

  /** The agents that report `instance` of `app`. */
  async reportingAgents(app: string, instance: string): Promise<string[]> {
    const keys = await this.client.getAll().prefix(this.keys.status(app, instance, '')).keys();
    return keys.flatMap((key) => {
      const parsed = this.keys.parseStatus(key);
      return parsed && parsed.app === app && parsed.instance === instance ? [parsed.agentId] : [];
    });
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
