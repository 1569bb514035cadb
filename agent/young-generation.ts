/**
 * Bounds V8's young generation at run time: small unless the agent is under sustained
 * allocation, capped, and given back after a burst.
 *
 * `--max-semi-space-size` is read only at start (docs/stack-notes.md), but the growth factor
 * (`--semi-space-growth-factor`) is read at every growth: 1 stops the growth, 2 is V8's own.
 *
 * - Small by default: a scale of 200 grew the semi-spaces from 512 KiB to 8 MB in ~2 s (what
 *   spawns make lives on, so a larger young generation only copies it more) and they stayed
 *   resident: +12–20 MB. Growth is allowed only after `busyChecks` checks in a row each saw at
 *   least `busyScavenges` young-generation collections: a log flood (dozens a second), not a
 *   spawn burst (over in a second or two).
 * - Cap: once the semi-spaces reach `maxSemiSpaceMb`, growth stops there. The size is looked at
 *   after each GC, as Node reports them (between turns of the event loop): one long turn of
 *   allocation could take the semi-spaces one doubling past the cap.
 * - Give-back: V8 shrinks the young generation only at a collection that finds the allocation
 *   rate of the last ~5 s low, and a quiet agent may not collect for minutes. So at a check with
 *   few collections since the last one, when the young generation is larger than V8's starting
 *   size, the agent runs one scavenge (well under a millisecond for what an agent keeps): V8
 *   shrinks the semi-spaces when the agent has been quiet for ~5 s, and their pages go back to
 *   the system. Growth is held again until the next sustained load.
 */
import { PerformanceObserver, constants } from 'node:perf_hooks';
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
/** How often the agent looks at its young generation (grow, give back). */
export const AGENT_YOUNG_CHECK_MS = 1_000;
/** Scavenges between two checks that make a check "busy", and busy checks in a row that allow growth. */
export const AGENT_BUSY_SCAVENGES = 10;
export const AGENT_BUSY_CHECKS = 3;

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

export interface YoungGenerationOptions {
  /** Check every this many ms (0: no timer; call check() yourself). */
  checkEveryMs?: number;
  /** Hold the young generation small until the process is busy (else it may grow to the cap at once). */
  startSmall?: boolean;
  busyScavenges?: number;
  busyChecks?: number;
}

export interface YoungGenerationControl {
  /** One check now (what the timer does). */
  check(): void;
  stop(): void;
}

export function capYoungGeneration(maxSemiSpaceMb: number, opts: YoungGenerationOptions = {}): YoungGenerationControl {
  const limit = 2 * maxSemiSpaceMb * 1024 * 1024; // new space = two semi-spaces
  const startSmall = opts.startSmall ?? false;
  const busyScavenges = opts.busyScavenges ?? AGENT_BUSY_SCAVENGES;
  const busyChecks = opts.busyChecks ?? AGENT_BUSY_CHECKS;
  let factor = 0;
  const setFactor = (f: number) => {
    if (f === factor) return;
    factor = f;
    v8.setFlagsFromString(`--semi-space-growth-factor=${f}`);
  };
  /** Growth allowed (up to the cap). */
  let growing = !startSmall;
  const apply = () => setFactor(growing && newSpaceBytes() < limit ? DEFAULT_GROWTH_FACTOR : 1);
  let scavenges = 0;
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      if ((entry as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR) scavenges++;
    }
    if (factor !== 1 && newSpaceBytes() >= limit) setFactor(1);
  });
  observer.observe({ entryTypes: ['gc'] });
  apply();

  let busyInARow = 0;
  let collect: (() => void) | undefined;
  const check = () => {
    const busy = scavenges >= busyScavenges;
    scavenges = 0;
    busyInARow = busy ? busyInARow + 1 : 0;
    if (busyInARow >= busyChecks) growing = true;
    if (!busy && newSpaceBytes() > SMALL_NEW_SPACE) {
      collect ??= minorCollector();
      collect();
      scavenges = 0; // ours
      // Shrunk: the burst is over; hold it small again until the next sustained load.
      if (newSpaceBytes() <= SMALL_NEW_SPACE && startSmall) growing = false;
    }
    apply();
  };
  const timer = (opts.checkEveryMs ?? 0) > 0 ? setInterval(check, opts.checkEveryMs).unref() : undefined;
  return {
    check,
    stop: () => {
      if (timer) clearInterval(timer);
      observer.disconnect();
    },
  };
}
