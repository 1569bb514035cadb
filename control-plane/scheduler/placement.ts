/** Placement rules: which agents a process type may run on (labels it must carry, a datacenter). */
import type { AgentView, PlacementRule } from './types';

/** The process type that process servers run only when their web is on (docs/process-servers.md). */
export const WEB_TYPE = 'web';

/**
 * Whether `agent` carries every label of `rule` with the same value, is in its datacenter, if any,
 * and runs web if the rule asks for that.
 */
export function fitsRule(agent: AgentView, rule: PlacementRule): boolean {
  if (rule.datacenter && agent.datacenter !== rule.datacenter) return false;
  if (rule.servesWeb && agent.web === false) return false;
  const labels = agent.labels;
  for (const key in rule.labels) {
    if (!Object.hasOwn(rule.labels, key)) continue;
    // Own properties only: a label named `constructor` must not find Object.prototype's.
    if (labels == null || !Object.hasOwn(labels, key) || labels[key] !== rule.labels[key]) return false;
  }
  return true;
}

const keys = new WeakMap<PlacementRule, string>();

/** The same string for equal rules whatever their label order (rules are cached by it). */
export function ruleKey(rule: PlacementRule): string {
  let key = keys.get(rule);
  if (key === undefined) {
    const labels = Object.entries(rule.labels ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    key = JSON.stringify([rule.datacenter ?? '', labels, rule.servesWeb === true]);
    keys.set(rule, key);
  }
  return key;
}

/** `role=web, datacenter fra1`, for messages. */
export function describeRule(rule: PlacementRule): string {
  const parts = Object.entries(rule.labels ?? {})
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`);
  if (rule.datacenter) parts.push(`datacenter ${rule.datacenter}`);
  return parts.join(', ') || 'anywhere';
}

/** `rule` that also keeps its type off agents whose web is off (undefined: no rule but that one). */
export function withServesWeb(rule: PlacementRule | undefined): PlacementRule {
  return { labels: rule?.labels ?? {}, ...(rule?.datacenter ? { datacenter: rule.datacenter } : {}), servesWeb: true };
}

/** Whether a rule restricts anything (a rule without labels or datacenter is no rule). */
export function isRestrictive(rule: PlacementRule | undefined): rule is PlacementRule {
  if (rule == null || typeof rule !== 'object') return false;
  if (rule.datacenter) return true;
  for (const key in rule.labels) if (Object.hasOwn(rule.labels, key)) return true;
  return false;
}
