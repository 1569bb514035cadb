/** How figures read on the page. */

export function uptime(startedAtMs: number | undefined, now: number): string {
  if (!startedAtMs) return '-';
  const s = Math.max(0, Math.floor((now - startedAtMs) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86_400)}d ${Math.floor((s % 86_400) / 3600)}h`;
}

/** A CPU share in percent, or `-` when the control plane does not report one. */
export function cpu(percent: number | string | null | undefined): string {
  if (percent === undefined || percent === null || percent === '') return '-';
  const n = Number(percent);
  return Number.isFinite(n) ? `${n.toFixed(n < 10 ? 1 : 0)}%` : '-';
}

/** Resident memory, or `-` when the control plane does not report it (0 means not running). */
export function memory(bytes: number | string | null | undefined): string {
  if (bytes === undefined || bytes === null || bytes === '') return '-';
  const n = Number(bytes);
  if (!Number.isFinite(n) || n <= 0) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 && i > 0 ? 1 : 0)} ${units[i]}`;
}

export function ago(ms: number | undefined, now: number): string {
  if (!ms) return '-';
  return `${uptime(ms, now)} ago`;
}

export function when(ms: number | undefined): string {
  return ms ? new Date(ms).toLocaleString() : '-';
}
