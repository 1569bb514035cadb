/** Desired state derived from apps: what should run, before deciding where. */
import { own } from '../../lib/own';
import { escapeToken } from '../../lib/restart-token';
import { isRestrictive } from './placement';
import { DEFAULT_GRACE_MS, type AppView, type InstanceSpec, type PlacementRule } from './types';

/** What every instance of one app's process type shares; the instance number completes the spec. */
export interface DesiredGroup {
  app: string;
  type: string;
  /** Instances `type.1 … type.count` are desired. */
  count: number;
  release: number;
  slug: string;
  command: string;
  graceMs: number;
  /** A port check's boot timeout (ms); 0: the default (docs/boot-checks.md). */
  bootTimeoutMs: number;
  /** `ps:logs TYPE=non-blocking` (docs/logs.md). */
  logsNonBlocking: boolean;
  /** Where the type may run; undefined: anywhere. */
  placement: PlacementRule | undefined;
  /** The escaped `*` and type tokens, each followed by `/`; the instance's own token completes it. */
  tokenPrefix: string;
  restartTokens: Record<string, string>;
  /** Whether any instance of this type has its own restart token (most have none: skip the lookup). */
  instanceTokens: boolean;
  /** Instance n's slot in a flat numbering of all desired instances is `base + n`. */
  base: number;
  /** The app's next group in type order. */
  next: DesiredGroup | undefined;
}

/** All desired groups in placement order (app name, type name), and how to find one. */
export interface DesiredState {
  groups: DesiredGroup[];
  /** Size of the flat slot numbering (see DesiredGroup.base). */
  slots: number;
  /** Each app's first group; the rest follow through `next` (a Map per app costs too much with 100k apps). */
  firstByApp: Map<string, DesiredGroup>;
  /** Apps with many types get a Map after all, so a lookup never walks a long chain. */
  byTypeForLargeApps: Map<string, Map<string, DesiredGroup>>;
}

const LARGE_APP_TYPES = 8;

/** Code-unit order: unlike localeCompare it does not depend on the host's locale. */
export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

// The app (`*`) and type parts of a restart token, each followed by `/`.
function restartTokenPrefix(tokens: Record<string, string>, type: string): string {
  const app = own(tokens, '*');
  const ofType = own(tokens, type);
  // The common case (no tokens) shares one string instead of building one per group.
  if (app === undefined && ofType === undefined) return '//';
  return `${escapeToken(app ?? '')}/${escapeToken(ofType ?? '')}/`;
}

/**
 * The restart token instance `instance` of `group` should carry: the app (`*`), type and instance
 * tokens joined with `/`, empty parts kept, so that changing any one of them changes it.
 */
export function groupRestartToken(group: DesiredGroup, instance: string): string {
  const token = group.instanceTokens ? own(group.restartTokens, instance) : undefined;
  return token === undefined ? group.tokenPrefix : group.tokenPrefix + escapeToken(token);
}

/**
 * Every (app, type) whose release declares the type and whose formation asks for at least one
 * instance, in placement order: app name, then type name.
 */
export function desiredState(apps: AppView[]): DesiredState {
  const state: DesiredState = { groups: [], slots: 0, firstByApp: new Map(), byTypeForLargeApps: new Map() };
  let previous: string | undefined;
  for (const app of sortedByName(apps)) {
    // A repeated app name is a caller bug; the first one wins rather than mixing two formations.
    if (app.name === previous) continue;
    previous = app.name;
    const release = app.release;
    if (release === undefined) continue;
    const types = Object.keys(app.formation);
    if (types.length > 1) types.sort(compareNames);
    const instanceKeys = keysWithDot(app.restartTokens);
    let last: DesiredGroup | undefined;
    const first = state.groups.length;
    for (const type of types) {
      const requested = own(app.formation, type) ?? 0;
      // The API validates counts; flooring here only keeps a bad value from producing `worker.1.5`.
      const count = Number.isFinite(requested) ? Math.floor(requested) : 0;
      const command = own(release.processTypes, type);
      if (count <= 0 || command === undefined) continue;
      const group: DesiredGroup = {
        app: app.name,
        type,
        count,
        release: release.version,
        slug: release.slug,
        command,
        graceMs: own(app.graceMs, type) ?? own(app.graceMs, '*') ?? DEFAULT_GRACE_MS,
        bootTimeoutMs: own(app.bootTimeoutMs, type) ?? 0,
        logsNonBlocking: own(app.logModes, type) === 'non-blocking',
        placement: app.placement === undefined ? undefined : restrictive(own(app.placement, type)),
        tokenPrefix: restartTokenPrefix(app.restartTokens, type),
        restartTokens: app.restartTokens,
        instanceTokens: instanceKeys !== undefined && instanceKeys.some((key) => key.startsWith(`${type}.`)),
        base: state.slots,
        next: undefined,
      };
      state.slots += count + 1;
      state.groups.push(group);
      if (last === undefined) state.firstByApp.set(app.name, group);
      else last.next = group;
      last = group;
    }
    if (state.groups.length - first > LARGE_APP_TYPES) {
      state.byTypeForLargeApps.set(app.name, new Map(state.groups.slice(first).map((g) => [g.type, g])));
    }
  }
  return state;
}

/**
 * The desired group an existing assignment belongs to, by app and the type in its instance name
 * (`worker.3`); undefined when its app or type is not desired.
 */
export function groupOf(state: DesiredState, assignment: InstanceSpec): DesiredGroup | undefined {
  const first = state.firstByApp.get(assignment.app);
  if (first === undefined) return undefined;
  const { instance } = assignment;
  // The stored type normally prefixes the name (no slice, no new string to hash); slicing the name
  // is the fallback for a record whose type field disagrees (it will be re-put with the right one).
  let type = assignment.type;
  if (!(instance.length > type.length + 1 && instance.charCodeAt(type.length) === 46 && instance.startsWith(type))) {
    const dot = instance.lastIndexOf('.');
    if (dot <= 0) return undefined;
    type = instance.slice(0, dot);
  }
  const large = state.byTypeForLargeApps.size > 0 ? state.byTypeForLargeApps.get(assignment.app) : undefined;
  if (large !== undefined) return large.get(type);
  for (let group: DesiredGroup | undefined = first; group !== undefined; group = group.next) {
    if (group.type === type) return group;
  }
  return undefined;
}

function restrictive(rule: PlacementRule | undefined): PlacementRule | undefined {
  return isRestrictive(rule) ? rule : undefined;
}

// Instance-level restart tokens (`worker.3`); undefined, not [], in the usual case of none.
function keysWithDot(tokens: Record<string, string>): string[] | undefined {
  let found: string[] | undefined;
  for (const key in tokens) if (Object.hasOwn(tokens, key) && key.includes('.')) (found ??= []).push(key);
  return found;
}

// Apps usually arrive sorted already (etcd lists keys in byte order); checking is much cheaper
// than sorting 100k names again. The sort is stable, so the first of a repeated name stays first.
function sortedByName(apps: AppView[]): AppView[] {
  for (let i = 1; i < apps.length; i++) {
    if (compareNames(apps[i - 1]!.name, apps[i]!.name) > 0) return [...apps].sort((a, b) => compareNames(a.name, b.name));
  }
  return apps;
}

/**
 * The number in `name` from `start` on, when it is a canonical positive integer (`3`, not `03`
 * or `+3`); otherwise 0. Hand-rolled because it runs once per assignment on every pass.
 */
export function parseInstanceNumber(name: string, start: number): number {
  const length = name.length - start;
  if (length <= 0 || length > 9 || name.charCodeAt(start) === 48 /* 0 */) return 0;
  let n = 0;
  for (let i = start; i < name.length; i++) {
    const digit = name.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return 0;
    n = n * 10 + digit;
  }
  return n;
}
