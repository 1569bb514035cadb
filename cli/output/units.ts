/** Human units for the CLI's tables (JSON output keeps raw numbers). */

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** 1536 → "1.5 KiB", 73400320 → "70 MiB": three significant digits at most. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '-';
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < BYTE_UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  const digits = unit === 0 || value >= 100 ? 0 : value >= 10 ? 1 : 2;
  return `${Number(value.toFixed(digits))} ${BYTE_UNITS[unit]}`;
}

/** Percent of one core: 0.04 → "0.0%", 12.345 → "12.3%", 180 → "180%". */
export function formatPercent(percent: number): string {
  if (!Number.isFinite(percent) || percent < 0) return '-';
  return percent >= 100 ? `${Math.round(percent)}%` : `${percent.toFixed(1)}%`;
}
