/**
 * The filter of a log request (`cluster logs -p/-d/-s`) checked the same way where it arrives:
 * at the control plane from the CLI, and at each agent from the control plane or anyone else.
 */
import { isLogSource } from './log-source';
import { parseInstanceName, processTypeProblem } from './names';

/** What is wrong with a filter's process type, instance or source, or undefined. */
export function logFilterProblem(filter: { type: string; instance: string; source: string }): string | undefined {
  const typeProblem = filter.type ? processTypeProblem(filter.type) : undefined;
  if (typeProblem) return typeProblem;
  if (filter.instance && !parseInstanceName(filter.instance)) return `invalid instance \`${filter.instance}\`: expected TYPE.N`;
  if (filter.source && !isLogSource(filter.source)) return `invalid source \`${filter.source}\`: expected app or system`;
  return undefined;
}
