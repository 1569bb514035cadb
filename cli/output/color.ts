/** Terminal colours, Foreman style: a stable colour per instance name. */

const COLORS = [36, 33, 32, 35, 31, 34, 96, 93, 92, 95, 91, 94];

/** Colours on a TTY unless --no-color or NO_COLOR (https://no-color.org). */
export function useColor(flag: boolean): boolean {
  return flag && process.stdout.isTTY === true && !process.env.NO_COLOR;
}

/** Paints `text` in the colour that `key` always gets. */
export function colorFor(key: string, text: string): string {
  let hash = 0;
  for (let i = 0; i < key.length; i++) hash = (hash * 31 + key.charCodeAt(i)) >>> 0;
  return `\x1b[${COLORS[hash % COLORS.length]}m${text}\x1b[0m`;
}
