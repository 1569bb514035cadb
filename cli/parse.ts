/** Validation of daemon flags, each failure naming the flag. */
import { InvalidArgumentError } from 'commander';
import { UserError } from './errors';
import { datacenterProblem, labelProblem } from '../lib/names';

export function positiveInt(text: string, flag: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n <= 0) throw new UserError(`${flag} ${text}: give a whole number above 0`);
  return n;
}

/**
 * Collects repeated `--label k=v` flags, each one a placement rule can name (lib/names.ts): an
 * agent labelled `team=a b` could never be placed on by label.
 */
export function collectLabel(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const eq = value.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError(`expected key=value, got \`${value}\``);
  const key = value.slice(0, eq);
  const problem = labelProblem(key, value.slice(eq + 1));
  if (problem) throw new InvalidArgumentError(problem);
  return { ...previous, [key]: value.slice(eq + 1) };
}

/** A `--datacenter` that placement rules (`ps:place --datacenter`) can name. */
export function datacenterName(value: string): string {
  const problem = datacenterProblem(value);
  if (problem) throw new InvalidArgumentError(problem);
  return value;
}
