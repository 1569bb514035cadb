/**
 * A NUL byte ends a C string, so exec() can take no command, argument or environment string that
 * holds one (Node refuses it: "must be a string without null bytes"). A release with one could be
 * stored but never started: it is refused where it enters (docs/limits.md).
 */

/** "a NUL byte (character N), which …" (to follow "has" or "with") when `text` holds one; else undefined. */
export function nulByte(text: string): string | undefined {
  const at = text.indexOf('\0');
  if (at < 0) return undefined;
  return `a NUL byte (character ${at + 1}), which no process can be started with: remove it`;
}

/** `text` with each NUL shown as `\0`, for a message naming it (a raw NUL prints as nothing). */
export function showNul(text: string): string {
  return text.replace(/\0/g, '\\0');
}

/** Why config var `key` cannot hold `value` (a NUL), or undefined; its size is limits.ts's to judge. */
export function configValueProblem(key: string, value: string): string | undefined {
  const nul = nulByte(value);
  return nul && `the value of config var \`${showNul(key)}\` has ${nul}`;
}
