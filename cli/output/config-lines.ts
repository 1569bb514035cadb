/** How `cluster config` prints config vars: `KEY: value` lines, or (`-s`) assignments for a shell. */
import { shellQuote } from '../shell-quote';

/** What would make a value printed as it is ambiguous: a line break or another control character, blanks at either end, a leading `"`. */
const AMBIGUOUS = /[\p{Cc}\u2028\u2029]|^\s|\s$|^"/u;

/**
 * A value as `config` shows it: as it is, or as a JSON string when that would be ambiguous
 * (`"line1\nline2"`: a line break printed raw would look like the start of another line).
 */
export function displayedValue(value: string): string {
  if (!AMBIGUOUS.test(value)) return value;
  // JSON.stringify leaves these line breaks (and the other C1 controls) raw.
  return JSON.stringify(value).replace(/[\u007f-\u009f\u2028\u2029]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** `KEY: value` lines, keys sorted and values aligned. */
export function configTable(vars: Record<string, string>): string[] {
  const keys = Object.keys(vars).sort();
  const width = Math.max(...keys.map((k) => k.length)) + 1;
  return keys.map((key) => `${`${key}:`.padEnd(width)} ${displayedValue(vars[key]!)}`);
}

/** `KEY=value` lines quoted for a POSIX shell (as `heroku config -s`): `eval "$(cluster config -s)"` sets them. */
export function shellAssignments(vars: Record<string, string>): string[] {
  return Object.keys(vars).sort().map((key) => `${key}=${shellQuote(vars[key]!)}`);
}
