/** Validation of daemon flags, each failure naming the flag. */
import { InvalidArgumentError } from 'commander';
import { UserError } from './errors';

export function positiveInt(text: string, flag: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n <= 0) throw new UserError(`${flag} ${text}: give a whole number above 0`);
  return n;
}

/** Collects repeated `--label k=v` flags. */
export function collectLabel(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const eq = value.indexOf('=');
  const key = eq > 0 ? value.slice(0, eq) : '';
  if (!/^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$/.test(key)) throw new InvalidArgumentError(`expected key=value, got \`${value}\``);
  return { ...previous, [key]: value.slice(eq + 1) };
}
