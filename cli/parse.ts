/** Validation of daemon flags, each failure naming the flag. */
import { InvalidArgumentError } from 'commander';
import { UserError } from './errors';
import { parseDuration } from '../lib/cron/duration';
import { agentLabelCountProblem } from '../lib/limits';
import { datacenterProblem, labelProblem } from '../lib/names';
import { serverEntryProblem } from '../lib/server-list';

export function positiveInt(text: string, flag: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n <= 0) throw new UserError(`${flag} ${text}: give a whole number above 0`);
  return n;
}

/** The longest `--timeout`: no one waits a week at a terminal, and `--timeout 30000m` is more likely a typo. */
const MAX_TIMEOUT_MS = 7 * 86_400_000;

/**
 * A `--timeout` (of a `--wait`, of `agent stop`), in ms: seconds as a number (`300`, `2.5`), or a
 * duration as `schedule:add --timeout` takes them (`30s`, `5m`, `1h30m`, `500ms`).
 */
export function timeoutMs(text: string, flag = '--timeout'): number {
  const trimmed = text.trim();
  const ms = /^\d+(\.\d+)?$/.test(trimmed) ? Math.round(Number(trimmed) * 1000) : parseDuration(trimmed);
  if (ms === undefined || ms <= 0) throw new UserError(`${flag} ${text}: give seconds (300) or a duration (30s, 5m, 1h)`);
  if (ms > MAX_TIMEOUT_MS) throw new UserError(`${flag} ${text}: at most 7d`);
  return ms;
}

/**
 * Collects repeated `--label k=v` flags, each one a placement rule can name (lib/names.ts): an
 * agent labelled `team=a b` could never be placed on by label.
 */
export function collectLabel(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const { key, label, problem } = labelArg(value);
  if (problem) throw new InvalidArgumentError(problem);
  if (Object.hasOwn(previous, key) && previous[key] !== label) throw new InvalidArgumentError(`label \`${key}\` given twice (${previous[key]}, then ${label}): give each key once`);
  return { ...previous, [key]: label };
}

/** `key=value` split, with what placement rules would say of it; a missing `=` is refused at once. */
function labelArg(value: string): { key: string; label: string; problem?: string } {
  const eq = value.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError(`expected key=value, got \`${value}\``);
  const key = value.slice(0, eq);
  const label = value.slice(eq + 1);
  return { key, label, problem: labelProblem(key, label) };
}

/** A `--datacenter` that placement rules (`ps:place --datacenter`) can name. */
export function datacenterName(value: string): string {
  const problem = datacenterProblem(value);
  if (problem) throw new InvalidArgumentError(problem);
  return value;
}

/**
 * `agent start`'s --label: as collectLabel, but a value placement rules cannot name is kept with a
 * warning, so that an agent set up before the check still starts after an upgrade (a refused start
 * would leave its instances to the watchdog).
 */
export function collectLabelOrWarn(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const { key, label, problem } = labelArg(value);
  if (problem) process.stderr.write(`warning: --label: ${problem}; placement rules cannot name it\n`);
  if (Object.hasOwn(previous, key) && previous[key] !== label) process.stderr.write(`warning: --label: \`${key}\` given twice (${previous[key]}, then ${label}); the last one counts\n`);
  return { ...previous, [key]: label };
}

/**
 * Refuses the labels an agent would register with when the control plane would refuse them (too
 * many: lib/limits.ts). Refused there, the agent could only try again and again; here it is the
 * user's mistake, named before anything starts (exit 1, as for any limit). `from`: where they came from.
 */
export function checkAgentLabelCount(labels: Record<string, string> | undefined, from = '--label', who = 'this agent'): void {
  const problem = agentLabelCountProblem(labels ?? {});
  if (problem) throw new UserError(`${from}: ${problem} (docs/limits.md): the control plane would refuse to register ${who}`);
}

/** `agent start`'s --datacenter: as datacenterName, with a warning instead of a refusal (see collectLabelOrWarn). */
export function datacenterNameOrWarn(value: string): string {
  const problem = datacenterProblem(value);
  if (problem) process.stderr.write(`warning: --datacenter: ${problem}; placement rules cannot name it\n`);
  return value;
}

/** `--ca-hash`: the CA pin printed with a token, `sha256:` and 64 hex digits (lib/pki.ts caHash). */
export function checkCaPin(pin: string | undefined): void {
  if (pin !== undefined && !/^sha256:[0-9a-f]{64}$/i.test(pin.trim())) {
    throw new UserError(`--ca-hash ${pin}: give the pin printed with the token: sha256: and 64 hex digits`);
  }
}

/** A HOST:PORT flag (`--listen`, `--advertise`, `--http`), when given; `anyPort`: port 0 lets the system choose. */
export function checkAddressFlag(value: string | undefined, flag: string, opts: { anyPort?: boolean } = {}): void {
  const problem = value === undefined ? undefined : serverEntryProblem(value, opts);
  if (problem) throw new UserError(`${flag}: ${problem}`);
}
