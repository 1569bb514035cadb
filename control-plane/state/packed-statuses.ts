/**
 * An agent's statuses of every instance of one app it runs, in one etcd value
 * (`status/<app>/@<agent>`, under the agent's lease) rather than one key an instance: an agent
 * that reports an app complete (StatusReport.complete_apps) has its report of that app written
 * as one put, so a scale-up of many instances costs etcd and every reader a few values instead
 * of a put and a watch event an instance (docs/architecture.md, "Instance statuses").
 *
 * Both layouts can hold an agent's reports of one app for a while (an agent that reported per
 * instance before, a replica of an older version during an upgrade): countingStatuses says
 * which count.
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
 * Of an agent's reports of one app in both layouts, the ones that count, by etcd revision (not
 * by any replica's clock). An agent that leaves packing sends the app whole, per instance, so a
 * per-instance record written after the packed value makes all of that value stale (an older
 * replica, which cannot drop it, may have written them); otherwise the packed value counts and
 * the per-instance records written before it are stale.
 */
export function countingStatuses<T>(
  packed: { modRevision: number; instances: Map<string, T> } | undefined,
  singles: Array<{ instance: string; modRevision: number; status: T }>,
): Map<string, T> {
  if (!packed) return new Map(singles.map((s) => [s.instance, s.status]));
  const newer = singles.filter((s) => s.modRevision > packed.modRevision);
  return newer.length > 0 ? new Map(newer.map((s) => [s.instance, s.status])) : packed.instances;
}
