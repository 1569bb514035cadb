/**
 * A record's own property, never an inherited one: a process type named `constructor` or
 * `__proto__` (names users choose) must not find Object.prototype's members.
 */
export function own<T>(record: Record<string, T> | undefined, key: string): T | undefined {
  return record !== undefined && Object.hasOwn(record, key) ? record[key] : undefined;
}
