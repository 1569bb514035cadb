/**
 * An agent's statuses of every instance of one app it runs, in one etcd value
 * (`status/<app>/@<agent>`, under the agent's lease) rather than one key an instance: an agent
 * that reports an app complete (StatusReport.complete_apps) has its report of that app written
 * as one put, so a scale-up of many instances costs etcd and every reader a few values instead
 * of a put and a watch event an instance (docs/architecture.md, "Instance statuses").
 *
 * Both layouts can hold a report of the same instance (an agent that reported per instance
 * before, a replica of an older version during an upgrade): the newer one counts. A packed
 * value is the agent's word on the whole app at `writtenAtMs`; a per-instance record written
 * after it overrides it for its instance, one written before it is stale.
 */
import { decode, encode, type StatusRecord } from '../records';

/** A status without its agent id (the key names the agent) and its time (the value's). */
export type PackedEntry = Omit<StatusRecord, 'agentId' | 'updatedAtMs'>;

interface PackedStatusRecord {
  writtenAtMs: number;
  instances: Record<string, PackedEntry>;
}

export function encodePackedStatuses(writtenAtMs: number, instances: Map<string, PackedEntry>): string {
  const record: PackedStatusRecord = { writtenAtMs, instances: Object.fromEntries(instances) };
  return encode(record);
}

/** One agent's packed statuses of one app; undefined when the value is malformed. */
export interface PackedStatuses {
  writtenAtMs: number;
  instances: Map<string, StatusRecord>;
}

export function decodePackedStatuses(raw: Buffer | string | null | undefined, agentId: string): PackedStatuses | undefined {
  const value = decode<object>(raw);
  return value && packedStatusesOf(value, agentId);
}

/** `value` (a parsed status value) as packed statuses; undefined when it is not one. */
export function packedStatusesOf(value: object, agentId: string): PackedStatuses | undefined {
  const record = value as Partial<PackedStatusRecord>;
  if (typeof record.writtenAtMs !== 'number' || !record.instances || typeof record.instances !== 'object') return undefined;
  const instances = new Map<string, StatusRecord>();
  for (const [instance, entry] of Object.entries(record.instances)) {
    if (entry && typeof entry === 'object') instances.set(instance, { ...entry, agentId, updatedAtMs: record.writtenAtMs });
  }
  return { writtenAtMs: record.writtenAtMs, instances };
}

/**
 * Whether an agent's per-instance record counts over its packed value of the app: when it has
 * none, or the record was written after it (then the packed value's entry of it is stale).
 */
export function singleIsNewer(packed: { writtenAtMs: number } | undefined, single: { updatedAtMs: number }): boolean {
  return !packed || single.updatedAtMs > packed.writtenAtMs;
}
