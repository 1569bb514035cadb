/**
 * What agents report of the instances assigned to them, as the leader reads it: a mirror of
 * `status/`, both layouts (state/packed-statuses.ts), keeping only what a rollout and a move read
 * of each status (100k texts were ~25 MB), and an index of each agent's per-instance records by
 * app, so that which layout counts (countingStatuses) is decided without scanning.
 */
import type { Etcd3 } from 'etcd3';
import type { Logger } from '../../lib/log';
import { PrefixMirror, type MirrorEntry, type MirrorEvent } from '../etcd/mirror';
import type { Keys } from '../keys';
import { decode, type StatusRecord } from '../records';
import { packedStatusesOf } from '../state/packed-statuses';
import type { ObservedStatus } from './rollout';

/** What the leader keeps of an agent's packed statuses of an app (`status/<app>/@<agent>`). */
interface PackedObserved {
  instances: Map<string, ObservedStatus>;
}

function observe(s: Omit<StatusRecord, 'agentId' | 'updatedAtMs'>): ObservedStatus {
  return { state: s.state, release: s.release, restartToken: s.restartToken };
}

/** A status value of either layout, projected to what the leader reads. */
function project(text: string): ObservedStatus | PackedObserved | undefined {
  const value = decode<object>(text);
  if (!value) return undefined;
  if (!('instances' in value)) return observe(value as StatusRecord);
  const packed = packedStatusesOf(value, '');
  return packed && { instances: new Map([...packed.instances].map(([name, s]) => [name, observe(s)])) };
}

export class ObservedStatuses {
  /** `<app>/<agent>` → instance → the mod revision of its per-instance record. */
  private readonly singles = new Map<string, Map<string, number>>();

  private constructor(
    readonly mirror: PrefixMirror,
    private readonly keys: Keys,
  ) {
    mirror.on('change', (events) => this.index(events));
    mirror.on('resync', () => this.reindex());
    this.reindex();
  }

  static async open(client: Etcd3, keys: Keys, logger: Logger): Promise<ObservedStatuses> {
    return new ObservedStatuses(await PrefixMirror.open(client, keys.allStatus(), logger, { project }), keys);
  }

  /** What `agentId` reports of `instance` of `app`, if anything that counts. */
  observed(app: string, instance: string, agentId: string): ObservedStatus | undefined {
    const packedEntry = this.mirror.entries.get(this.keys.packedStatus(app, agentId));
    const singleEntry = this.mirror.entries.get(this.keys.status(app, instance, agentId));
    const single = singleEntry && { modRevision: singleEntry.modRevision, status: this.mirror.decoded<ObservedStatus>(singleEntry) };
    if (!packedEntry) return single?.status;
    let newestSingle = 0;
    for (const rev of this.singles.get(`${app}/${agentId}`)?.values() ?? []) newestSingle = Math.max(newestSingle, rev);
    // As countingStatuses: a per-instance record newer than the packed value makes all of it stale.
    if (newestSingle > packedEntry.modRevision) return single && single.modRevision > packedEntry.modRevision ? single.status : undefined;
    return this.mirror.decoded<PackedObserved>(packedEntry)?.instances.get(instance);
  }

  close(): Promise<void> {
    return this.mirror.close();
  }

  private index(events: MirrorEvent[]): void {
    for (const e of events) {
      const parsed = this.keys.parseStatus(e.key);
      if (!parsed) continue;
      const pair = `${parsed.app}/${parsed.agentId}`;
      let revisions = this.singles.get(pair);
      if (e.type === 'put' && e.entry) {
        if (!revisions) this.singles.set(pair, (revisions = new Map<string, number>()));
        revisions.set(parsed.instance, e.entry.modRevision);
      } else if (revisions) {
        revisions.delete(parsed.instance);
        if (revisions.size === 0) this.singles.delete(pair);
      }
    }
  }

  private reindex(): void {
    this.singles.clear();
    const events: MirrorEvent[] = [];
    for (const [key, entry] of this.mirror.entries as Map<string, MirrorEntry>) events.push({ type: 'put', key, entry });
    this.index(events);
  }
}
