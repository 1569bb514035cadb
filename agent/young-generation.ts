/**
 * Caps V8's young generation at run time. Under a burst of allocation (200 spawns, a log
 * flood) V8 doubles the semi-spaces up to 16 MB each and never gives them back (not even
 * after a forced gc()): ~20 MB more RSS for the rest of the agent's life. `--max-semi-space-size`
 * is read only at start (docs/stack-notes.md), but the growth factor is read at every growth:
 * once the semi-spaces reach `maxSemiSpaceMb`, setting it to 1 stops the growth there. The size
 * is looked at after each GC, as Node reports them (between turns of the event loop): one long
 * turn of allocation could take the semi-spaces one doubling past the cap. The agent's turns
 * are short (spawns are paced, log reads are chunked).
 */
import { PerformanceObserver } from 'node:perf_hooks';
import * as v8 from 'node:v8';

/**
 * The agent's cap. Measured (bench/footprint.ts, bench/logs.ts --phases cap64, taking turns):
 * 8 MB keeps an agent with 200 instances at ~76 MB instead of ~98 MB at no measurable cost to
 * log capture (CPU per million lines 0.76–0.83 s vs 0.81–0.88 s); holding the 4 MB that start-up
 * leaves gave the same RSS but cost ~35 % more CPU per line under a log flood (more scavenges,
 * more promotion).
 */
export const AGENT_MAX_SEMI_SPACE_MB = 8;

export function capYoungGeneration(maxSemiSpaceMb: number): void {
  const limit = 2 * maxSemiSpaceMb * 1024 * 1024; // new space = two semi-spaces
  const reached = (): boolean => (v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0) >= limit;
  const hold = () => v8.setFlagsFromString('--semi-space-growth-factor=1');
  if (reached()) return hold();
  const observer = new PerformanceObserver(() => {
    if (!reached()) return;
    hold();
    observer.disconnect();
  });
  observer.observe({ entryTypes: ['gc'] });
}
