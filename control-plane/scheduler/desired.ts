/** Desired state derived from apps: what should run, before deciding where. */
import { DEFAULT_GRACE_MS, type AppView, type Assignment, type InstanceSpec } from './types';

/** What every instance of one app's process type shares; the instance number completes the spec. */
export interface DesiredGroup {
  app: string;
  type: string;
  /** Instances `type.1 … type.count` are desired. */
  count: number;
  release: number;
  slug: string;
  command: string;
  env: Record<string, string>;
  /** Number of vars in `env`, counted once rather than for every comparison. */
  envKeys: number;
  graceMs: number;
  /** The escaped `*` and type tokens, each followed by `/`; the instance's own token completes it. */
  tokenPrefix: string;
  restartTokens: Record<string, string>;
  /** Whether any instance of this type has its own restart token (most have none: skip the lookup). */
  instanceTokens: boolean;
}

/** Code-unit order: unlike localeCompare it does not depend on the host's locale. */
export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Reads an own property only: a process type named `constructor` must not find Object.prototype's. */
export function own<T>(record: Record<string, T> | undefined, key: string): T | undefined {
  return record !== undefined && Object.hasOwn(record, key) ? record[key] : undefined;
}

// `/` separates the parts, so it (and the escape character) is escaped inside them: this keeps the
// combination injective, so any change to any token changes the result.
function escapeToken(token: string): string {
  return token.includes('/') || token.includes('%') ? token.replace(/%/g, '%25').replace(/\//g, '%2F') : token;
}

/** Combines the app (`*`), type and instance restart tokens; an empty part stays, so changing any one changes it. */
export function restartToken(tokens: Record<string, string>, type: string, instance: string): string {
  return restartTokenPrefix(tokens, type) + escapeToken(own(tokens, instance) ?? '');
}

function restartTokenPrefix(tokens: Record<string, string>, type: string): string {
  return `${escapeToken(own(tokens, '*') ?? '')}/${escapeToken(own(tokens, type) ?? '')}/`;
}

/** The restart token the instance `instance` of `group` should carry. */
export function groupRestartToken(group: DesiredGroup, instance: string): string {
  const token = group.instanceTokens ? own(group.restartTokens, instance) : undefined;
  return token === undefined ? group.tokenPrefix : group.tokenPrefix + escapeToken(token);
}

/**
 * Every (app, type) whose release declares the type and whose formation asks for at least one
 * instance, in placement order: app name, then type name.
 */
export function desiredGroups(apps: AppView[]): DesiredGroup[] {
  const groups: DesiredGroup[] = [];
  let previous: string | undefined;
  for (const app of sortedByName(apps)) {
    const release = app.release;
    // A repeated app name is a caller bug; the first one wins rather than mixing two formations.
    if (release === undefined || app.name === previous) continue;
    previous = app.name;
    const instanceKeys = Object.keys(app.restartTokens).filter((key) => key.includes('.'));
    const envKeys = Object.keys(release.env).length;
    for (const type of Object.keys(app.formation).sort(compareNames)) {
      const requested = own(app.formation, type) ?? 0;
      // The API validates counts; flooring here only keeps a bad value from producing `worker.1.5`.
      const count = Number.isFinite(requested) ? Math.floor(requested) : 0;
      const command = own(release.processTypes, type);
      if (count <= 0 || command === undefined) continue;
      groups.push({
        app: app.name,
        type,
        count,
        release: release.version,
        slug: release.slug,
        command,
        env: release.env,
        envKeys,
        graceMs: own(app.graceMs, type) ?? own(app.graceMs, '*') ?? DEFAULT_GRACE_MS,
        tokenPrefix: restartTokenPrefix(app.restartTokens, type),
        restartTokens: app.restartTokens,
        instanceTokens: instanceKeys.some((key) => key.startsWith(`${type}.`)),
      });
    }
  }
  return groups;
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

/** The full spec of instance number `n` of `group`, placed on `agentId`. */
export function assignmentFor(group: DesiredGroup, n: number, agentId: string): Assignment {
  const instance = `${group.type}.${n}`;
  return {
    agentId,
    app: group.app,
    instance,
    type: group.type,
    release: group.release,
    slug: group.slug,
    command: group.command,
    // Shared, not copied: plans are plain data that is serialised, never mutated.
    env: group.env,
    restartToken: groupRestartToken(group, instance),
    graceMs: group.graceMs,
  };
}

/** Whether `spec` (an existing assignment of `group`) already runs what is desired. */
export function specMatches(spec: InstanceSpec, group: DesiredGroup): boolean {
  return (
    spec.type === group.type &&
    spec.release === group.release &&
    spec.slug === group.slug &&
    spec.command === group.command &&
    spec.graceMs === group.graceMs &&
    spec.restartToken === groupRestartToken(group, spec.instance) &&
    sameEnv(spec.env, group.env, group.envKeys)
  );
}

// Key order is irrelevant: a stored env that merely lists the same vars differently must not
// restart. Values are strings, so `a[key] !== b[key]` also catches a key `b` lacks (even
// `constructor`, which `b` would inherit as a function); with equal key counts the sets are equal.
// for-in rather than Object.keys: V8 walks it from the enum cache without allocating, about twice
// as fast, and this runs for every assignment on every pass.
function sameEnv(a: Record<string, string>, b: Record<string, string>, bKeys: number): boolean {
  if (a === b) return true;
  if (a === null || typeof a !== 'object') return false;
  let keys = 0;
  for (const key in a) {
    if (a[key] !== b[key]) return false;
    keys++;
  }
  return keys === bKeys;
}
