/**
 * Every instance of one app placed on one agent, in one etcd value (`assignments/<agent>/@<app>`)
 * rather than one key an instance (`assignments/<agent>/<app>/<instance>`): a scale-up of 100k
 * instances over 1,000 agents then costs etcd, and every replica's watch, ~10k values instead
 * of 100k keys and events (docs/architecture.md, "Assignments").
 *
 * The leader is the only writer of assignments. It writes an agent's app packed while every live
 * replica reads this layout and the app has at most PACK_MAX instances there, per instance
 * otherwise, and rewrites the whole group when its layout changes (leader/plan-writes.ts). Both
 * layouts can hold a group for a moment (the rewrite may span two transactions); which record
 * counts is decided by etcd revision (state/assignment-index.ts).
 */
import type { Assignment, InstanceSpec } from '../scheduler/types';

/**
 * Most instances of one app on one agent packed in one value: every change of one of them
 * rewrites the whole value (~200 bytes an instance), and etcd keeps each version until it is
 * compacted. Larger groups are written per instance.
 */
export const PACK_MAX = 500;

interface PackedAssignmentsRecord {
  /** Each instance's spec (the key names the agent and the app). */
  assignments: Array<Omit<InstanceSpec, 'app'>>;
  /**
   * For each instance, in the same order, the etcd revision at which its assignment was last
   * written when that is earlier than the value's own (the value was rewritten for other
   * instances); 0: the value's. Apart from the specs, so that each parsed spec is kept as it is.
   */
  since?: number[];
}

/** A packed value as the mirror keeps it: its instances by name, agent and app filled in. */
export interface PackedAssignments {
  packed: true;
  instances: Map<string, Assignment>;
  /** The instances written before the value (see PackedAssignmentsRecord); the others were written with it. */
  since: Map<string, number>;
}

/** The value of an agent's app group: `entries` in the order given. */
export function encodePackedAssignments(entries: Array<{ assignment: Assignment; since?: number }>): string {
  // The key names the agent and the app: left out of each spec.
  const specs = entries.map(({ assignment }) => ({ ...assignment, agentId: undefined, app: undefined }));
  const since = entries.map((e) => e.since ?? 0);
  const record: PackedAssignmentsRecord = since.some((n) => n > 0) ? { assignments: specs, since } : { assignments: specs };
  return JSON.stringify(record);
}

/**
 * `value` (a parsed value under `assignments/<agentId>/@<app>`) as packed assignments; undefined
 * when it is not one. Each parsed spec becomes the assignment itself, its agent and app added:
 * a copy made with a spread was ~3× the size (100k instances: 62 MB against 21 MB). The mirror's
 * projection then shares their repeated strings (state/cluster-view.ts).
 */
export function packedAssignmentsOf(value: object, agentId: string, app: string): PackedAssignments | undefined {
  const record = value as Partial<PackedAssignmentsRecord>;
  if (!Array.isArray(record.assignments)) return undefined;
  const instances = new Map<string, Assignment>();
  const since = new Map<string, number>();
  const revisions = Array.isArray(record.since) ? record.since : [];
  record.assignments.forEach((raw: unknown, i) => {
    if (!raw || typeof raw !== 'object') return;
    const a = raw as Assignment;
    if (typeof a.instance !== 'string' || typeof a.type !== 'string') return;
    a.agentId = agentId;
    a.app = app;
    instances.set(a.instance, a);
    const revision = revisions[i];
    if (typeof revision === 'number' && revision > 0) since.set(a.instance, revision);
  });
  return { packed: true, instances, since };
}

/** Whether two assignments of one instance ask for the same thing (every field; a change of any restarts it). */
export function sameAssignment(a: Assignment, b: Assignment): boolean {
  const fields = Object.keys(a) as Array<keyof Assignment>;
  if (fields.length !== Object.keys(b).length) return false;
  for (const field of fields) if (a[field] !== b[field]) return false;
  return true;
}
