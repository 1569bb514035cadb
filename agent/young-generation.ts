/**
 * Bounds V8's young generation at run time, and gives it back after a burst.
 *
 * Cap: under a burst of allocation (200 spawns, a log flood) V8 doubles the semi-spaces up to
 * 16 MB each. `--max-semi-space-size` is read only at start (docs/stack-notes.md), but the
 * growth factor is read at every growth: once the semi-spaces reach `maxSemiSpaceMb`, setting it
 * to 1 stops the growth there. The size is looked at after each GC, as Node reports them (between
 * turns of the event loop): one long turn of allocation could take the semi-spaces one doubling
 * past the cap. The agent's turns are short (spawns are paced, log reads are chunked).
 *
 * Give-back: V8 shrinks the young generation only at a GC that finds the allocation rate of
 * the last seconds low, and an idle agent allocates so little that its next GC may be minutes
 * away; meanwhile both grown semi-spaces stay resident (start-up alone grows them to 4–8 MB
 * each in some runs: the "bimodal" idle figure, 57 or 67 MB). So every `checkEveryMs`, when
 * the young generation is larger than V8's starting size, the agent runs one young-generation
 * collection (a scavenge, well under a millisecond for what an agent keeps): when the agent is
 * quiet V8 shrinks the semi-spaces and their pages go back to the system; under load it does
 * not shrink them and the scavenge was due anyway. Growth is then allowed again, up to the cap.
 */
import { PerformanceObserver } from 'node:perf_hooks';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';

/**
 * The agent's cap. Measured (bench/footprint.ts, bench/logs.ts --phases cap64, taking turns):
 * 8 MB keeps an agent with 200 instances at ~76 MB instead of ~98 MB at no measurable cost to
 * log capture (CPU per million lines 0.76–0.83 s vs 0.81–0.88 s); holding the 4 MB that start-up
 * leaves gave the same RSS but cost ~35 % more CPU per line under a log flood (more scavenges,
 * more promotion).
 */
export const AGENT_MAX_SEMI_SPACE_MB = 8;
/** How often the agent looks whether its young generation can be given back. */
export const AGENT_YOUNG_CHECK_MS = 1_000;

/** V8's own growth factor (`--semi-space-growth-factor`, 2 in Node 20's V8). */
const DEFAULT_GROWTH_FACTOR = 2;
/** At or below this (both semi-spaces, bytes), nothing is worth giving back: V8 starts with 2 × 512 KiB. */
const SMALL_NEW_SPACE = 2 * 1024 * 1024;

export function newSpaceBytes(): number {
  return v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0;
}

/** A young-generation collection on demand, without exposing `gc` to the program's own context. */
function minorCollector(): () => void {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as (opts: { type: 'minor' | 'major' }) => void;
  v8.setFlagsFromString('--no-expose-gc');
  return () => gc({ type: 'minor' });
}

export interface YoungGenerationControl {
  /** One give-back check now (what the timer does). */
  check(): void;
  stop(): void;
}

/**
 * Holds the semi-spaces at `maxSemiSpaceMb` once reached, and (with `checkEveryMs` > 0) gives
 * them back when the process is quiet, allowing growth again afterwards.
 */
export function capYoungGeneration(maxSemiSpaceMb: number, checkEveryMs = 0): YoungGenerationControl {
  const limit = 2 * maxSemiSpaceMb * 1024 * 1024; // new space = two semi-spaces
  let observer: PerformanceObserver | undefined;
  let held = false;
  const hold = () => {
    held = true;
    v8.setFlagsFromString('--semi-space-growth-factor=1');
    observer?.disconnect();
    observer = undefined;
  };
  const watch = () => {
    if (newSpaceBytes() >= limit) return hold();
    if (held) {
      held = false;
      v8.setFlagsFromString(`--semi-space-growth-factor=${DEFAULT_GROWTH_FACTOR}`);
    }
    if (observer !== undefined) return;
    const o = new PerformanceObserver(() => {
      if (newSpaceBytes() >= limit) hold();
    });
    o.observe({ entryTypes: ['gc'] });
    observer = o;
  };
  watch();
  let collect: (() => void) | undefined;
  const check = () => {
    if (newSpaceBytes() <= SMALL_NEW_SPACE) return;
    collect ??= minorCollector();
    collect();
    watch();
  };
  const timer = checkEveryMs > 0 ? setInterval(check, checkEveryMs).unref() : undefined;
  return {
    check,
    stop: () => {
      if (timer) clearInterval(timer);
      observer?.disconnect();
      observer = undefined;
    },
  };
}
