/** Longest cell shown; the rest is cut with `…` (a 100 kB release description padded every row). */
const MAX_CELL = 200;

/**
 * A cell as one line of text: control characters (a newline, an escape sequence in a release
 * description, which would redraw the reader's terminal) are shown as `\n`, `\x1b`.
 */
function cellText(text: string): string {
  let plain = '';
  for (const c of text) {
    const code = c.charCodeAt(0);
    const control = code < 0x20 || (code >= 0x7f && code <= 0x9f);
    plain += !control ? c : c === '\n' ? '\\n' : c === '\t' ? '\\t' : `\\x${code.toString(16).padStart(2, '0')}`;
  }
  return plain.length > MAX_CELL ? `${plain.slice(0, MAX_CELL - 1)}…` : plain;
}

/** Plain aligned columns, like `heroku ps`: no borders, two spaces between columns. */
export function renderTable(headers: string[], cells: string[][]): string {
  const rows = cells.map((r) => r.map(cellText));
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers.map((h) => h.toUpperCase())), ...rows.map(line)].join('\n');
}

/** "3m 12s" style duration. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}
