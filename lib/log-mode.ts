/**
 * `ps:logs TYPE=blocking|non-blocking`: what happens to a process type's output when the agent's
 * disk writer falls behind. Blocking (the default) stops reading the process's pipe, so the
 * process waits in write() as on a slow terminal and no line is lost; non-blocking never makes
 * the process wait and drops lines from the disk copy instead, with a counted marker. See docs/logs.md.
 */
import { processTypeProblem } from './names';

export type LogMode = 'blocking' | 'non-blocking';

export const DEFAULT_LOG_MODE: LogMode = 'blocking';

export function isLogMode(value: string): value is LogMode {
  return value === 'blocking' || value === 'non-blocking';
}

/** Why a setting is refused, or undefined when it is valid. */
export function logModeProblem(type: string, mode: string): string | undefined {
  const typeProblem = processTypeProblem(type);
  if (typeProblem) return typeProblem;
  if (!isLogMode(mode)) return `${type}=${mode}: the log mode must be blocking or non-blocking`;
  return undefined;
}
