/** Durations as users type them (`30s`, `1m30s`, `2h`, `500ms`, `1d`), in milliseconds. */

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const WHOLE = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$/;
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g;

/** Milliseconds in `text`, or undefined when it is not a duration like `30s` or `1h30m`. */
export function parseDuration(text: string): number | undefined {
  const trimmed = text.trim();
  if (!WHOLE.test(trimmed)) return undefined;
  let ms = 0;
  for (const [, amount, unit] of trimmed.matchAll(PART)) ms += Number(amount) * UNIT_MS[unit!]!;
  return Math.round(ms);
}

/** A duration for people: `45 s`, `2 min 5 s`, `1 h 30 min`, `350 ms`. */
export function formatDuration(ms: number): string {
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${Number((ms / 1_000).toFixed(ms < 10_000 ? 1 : 0))} s`;
  const s = Math.round(ms / 1_000);
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3_600);
  const m = Math.floor((s % 3_600) / 60);
  const rest = s % 60;
  const parts = [d && `${d} d`, h && `${h} h`, m && `${m} min`, rest && !d && `${rest} s`].filter(Boolean);
  return parts.join(' ');
}
