/**
 * Bounds how far V8 lets a daemon's old generation grow past what survived its last full
 * collection. By default V8 lets it grow up to ~4× after a burst of allocation (the control
 * plane's heap reached 470 MB with ~110 MB alive while placing 100k instances), and the memory
 * stays resident. `--heap-growing-percent` is one of the few heap flags V8 reads at every
 * collection rather than once at start, so the daemon can set it itself
 * (`--max-old-space-size` and `--max-semi-space-size` cannot be changed at run time:
 * docs/stack-notes.md, "Processes").
 */
import * as v8 from 'node:v8';

/** Percent the control plane uses: more full collections during a burst, about half the peak heap. */
export const CONTROL_PLANE_HEAP_GROWTH_PERCENT = 30;
/**
 * The agent's: with V8's default, each scale of 200 up and down left ~8 MB more garbage in the
 * old generation (RSS with 200 instances 73 → 84 → 90 MB over three cycles); at 30 % it stayed
 * at 71–73 MB (docs/stack-notes.md, "The agent's memory").
 */
export const AGENT_HEAP_GROWTH_PERCENT = 30;

/**
 * Sets V8's heap growing factor to 1 + `percent`/100, unless the process was started with its
 * own `--heap-growing-percent` (that one wins). Returns whether it was set.
 */
export function limitHeapGrowth(percent: number, execArgv: readonly string[] = process.execArgv): boolean {
  if (!Number.isInteger(percent) || percent <= 0 || percent > 1000) throw new RangeError(`heap growth ${percent}%: expected 1-1000`);
  if (execArgv.some((arg) => /^--heap[-_]growing[-_]percent(=|$)/.test(arg))) return false;
  v8.setFlagsFromString(`--heap-growing-percent=${percent}`);
  return true;
}
