/**
 * The per-type settings of a formation besides counts: stop grace, log mode, boot timeout and
 * placement rules. Each checks the user's input before any read and returns how it changes a
 * formation, applied in formation-writes.ts's revision-checked write.
 */
import { InvalidArgumentError, LimitExceededError } from '../errors';
import type { FormationRecord, PlacementRecord } from '../records';
import { MAX_GRACE_SECONDS } from '../../lib/limits';
import { bootTimeoutProblem, DEFAULT_BOOT_TIMEOUT_SECONDS } from '../../lib/boot-timeout';
import { logModeProblem } from '../../lib/log-mode';
import { datacenterProblem, labelProblem } from '../../lib/names';

/** Most labels one placement rule may require. */
export const MAX_RULE_LABELS = 20;

type FormationChange = (formation: FormationRecord) => FormationRecord;

/** The per-type maps of a formation, by field. */
type PerType = Required<Pick<FormationRecord, 'graceMs' | 'logModes' | 'bootTimeoutMs' | 'placement'>>;

/** The formation field of a per-type setting. */
export type TypeSettingField = keyof PerType;

/**
 * Sets each type's entry of `field` to its value, or removes it where the value is undefined
 * (the type goes back to the default, stored as no entry); other types keep theirs.
 */
function setPerType<F extends keyof PerType>(field: F, values: Array<[type: string, value: PerType[F][string] | undefined]>): FormationChange {
  return (formation) => {
    const settings = { ...formation[field] } as Record<string, PerType[F][string]>;
    for (const [type, value] of values) {
      if (value === undefined) delete settings[type];
      else settings[type] = value;
    }
    return { ...formation, [field]: settings };
  };
}

export interface PlacementRule {
  type: string;
  labels: Record<string, string>;
  datacenter?: string;
}

/** Stop grace periods in seconds (0 returns a type to the agent's default). */
export function graceSettings(changes: Array<{ type: string; seconds: number }>): FormationChange {
  if (changes.length === 0) throw new InvalidArgumentError('nothing to set: give TYPE=SECONDS');
  for (const { type, seconds } of changes) {
    if (!Number.isFinite(seconds) || seconds < 0 || seconds > MAX_GRACE_SECONDS) {
      throw new InvalidArgumentError(`${type}=${seconds}: the grace period must be from 0 to ${MAX_GRACE_SECONDS} seconds`);
    }
  }
  return setPerType('graceMs', changes.map(({ type, seconds }) => [type, seconds === 0 ? undefined : Math.round(seconds * 1000)]));
}

/** Log modes (`blocking`, the default, is stored as no entry). docs/logs.md. */
export function logModeSettings(changes: Array<{ type: string; mode: string }>): FormationChange {
  if (changes.length === 0) throw new InvalidArgumentError('nothing to set: give TYPE=blocking or TYPE=non-blocking');
  for (const { type, mode } of changes) {
    const problem = logModeProblem(type, mode);
    if (problem) throw new InvalidArgumentError(problem);
  }
  return setPerType('logModes', changes.map(({ type, mode }) => [type, mode === 'non-blocking' ? 'non-blocking' : undefined]));
}

/** Boot timeouts in seconds (0 removes the setting). docs/boot-checks.md. */
export function bootTimeoutSettings(changes: Array<{ type: string; seconds: number }>): FormationChange {
  if (changes.length === 0) throw new InvalidArgumentError('nothing to set: give TYPE=SECONDS');
  for (const { type, seconds } of changes) {
    const problem = bootTimeoutProblem(type, seconds);
    if (problem) throw new InvalidArgumentError(problem);
  }
  // web's default (60 s) is stored as no entry, as blocking logs are: only settings away from the default are listed.
  const isDefault = (type: string, seconds: number) => seconds === 0 || (type === 'web' && seconds === DEFAULT_BOOT_TIMEOUT_SECONDS);
  return setPerType('bootTimeoutMs', changes.map(({ type, seconds }) => [type, isDefault(type, seconds) ? undefined : seconds * 1000]));
}

/**
 * Placement rules (labels an agent must carry, a datacenter); a rule with neither lets its type
 * run anywhere again, other types keep theirs. The types are checked against the release by the caller.
 */
export function placementSettings(rules: PlacementRule[]): FormationChange {
  checkPlacementRules(rules);
  return setPerType('placement', rules.map(({ type, labels, datacenter }) => {
    const rule: PlacementRecord = { labels: { ...labels }, ...(datacenter ? { datacenter } : {}) };
    return [type, Object.keys(rule.labels).length === 0 && !rule.datacenter ? undefined : rule];
  }));
}

/** Throws when a rule is malformed: a type given twice, too many labels, a label or datacenter no agent could carry. */
export function checkPlacementRules(rules: PlacementRule[]): void {
  if (rules.length === 0) throw new InvalidArgumentError('nothing to set: give a process type and its rule');
  const seen = new Set<string>();
  for (const { type, labels, datacenter } of rules) {
    if (seen.has(type)) throw new InvalidArgumentError(`process type \`${type}\` is given twice`);
    seen.add(type);
    const entries = Object.entries(labels ?? {});
    if (entries.length > MAX_RULE_LABELS) {
      throw new LimitExceededError(`the rule of \`${type}\` has ${entries.length} labels; at most ${MAX_RULE_LABELS} are allowed`);
    }
    for (const [key, value] of entries) {
      const problem = labelProblem(key, value);
      if (problem) throw new InvalidArgumentError(problem);
    }
    const problem = datacenter ? datacenterProblem(datacenter) : undefined;
    if (problem) throw new InvalidArgumentError(problem);
  }
}
