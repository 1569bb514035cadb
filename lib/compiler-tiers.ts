/**
 * Holds V8's compilers above the interpreter off in a process until it is busy: the optimizing
 * compiler (TurboFan) and the baseline compiler (Sparkplug).
 *
 * TurboFan is code in the `node` binary: the first function it optimizes brings ~3–5 MB of that
 * code into the process's memory (resident pages of the binary, counted in its RSS). Sparkplug
 * compiles every function that ran a few times (loading ~250 modules is enough) into machine code
 * kept beside its bytecode: ~1 MB more. A daemon that is mostly idle gains nothing from either.
 * V8 reads `--turbofan` and `--sparkplug` each time it considers tiering a function up, so
 * `v8.setFlagsFromString` can turn them off at start and on again later (what was interpreted
 * meanwhile is compiled once it is hot again). Measured on the agent (docs/stack-notes.md, "The
 * agent's memory"): idle ~4 MB less RSS; interpreted only, a log flood costs several times the
 * CPU per line, so both are released for good once the process has been busy for a few seconds in
 * a row (`releaseWhenBusy`): a log flood, a crash loop; not a scale of 200.
 */
import * as v8 from 'node:v8';

/** Node/V8 flags that choose the tiers themselves: with one of them given, we leave the flags alone. */
const TIERING_FLAG = /^--(no-)?(turbofan|opt|sparkplug|always-sparkplug|jitless|lite-mode|always-turbofan|always-opt)(=|$)/;
/** What holding sets, and what releasing sets back (V8's defaults in Node 20). */
const HELD_FLAGS = ['--no-turbofan', '--no-sparkplug'];
const RELEASED_FLAGS = ['--turbofan', '--sparkplug'];

let held = false;

/** Whether the process was started with a flag that sets the compiler tiers (execArgv or NODE_OPTIONS). */
export function tiersChosenAtStart(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ''): boolean {
  return [...execArgv, ...nodeOptions.split(/\s+/)].some((flag) => TIERING_FLAG.test(flag.replace(/_/g, '-')));
}

/** Turns both compilers off (once; not when the process was started with its own tiering flags). */
export function holdCompilers(): void {
  if (held || tiersChosenAtStart()) return;
  for (const flag of HELD_FLAGS) v8.setFlagsFromString(flag);
  held = true;
}

/** Turns them on again, when they were held. */
export function releaseCompilers(): void {
  if (!held) return;
  for (const flag of RELEASED_FLAGS) v8.setFlagsFromString(flag);
  held = false;
}

export function compilersHeld(): boolean {
  return held;
}

export interface BusyWatch {
  /** Look every this many ms at the CPU the process used (and the work it did) since the last look. */
  checkEveryMs: number;
  /** A look is busy when the process used at least this share of one core (0–1) … */
  busyShare: number;
  /** … and this many busy looks in a row release the compilers. */
  busyChecks: number;
  /** With a work counter (releaseWhenBusy's `work`): a look that counted at least this much work … */
  busyWork?: number;
  /** … this many looks in a row release them too. */
  busyWorkChecks?: number;
}

/**
 * The agent's: a look every 250 ms; released by 0.5 s in a row capturing ≥ 20,000 log lines a
 * second (its work counter: 5,000 a look), or 10 s in a row at ≥ 40 % of a core. Interpreted, a
 * log line costs the agent several times its optimized CPU, and a flood is what keeps an agent
 * busy: what it captures meanwhile piles up in front of every follower, so the sooner the
 * better (with 1 s looks and 2 s in a row, a 250k lines/s flood reached `cluster logs -f` up to
 * ~1 s late for its first ~6 s; with these, ~0.7 s for ~4 s: docs/stack-notes.md). Spawning and
 * stopping are not worth the compilers' memory: a scale of 200 right after a stop of 200 kept an
 * agent at ≥ 40 % of a core for 3 s on a loaded machine, which released the compilers for good
 * under a former rule (3 s at 40 %) and left TurboFan's ~4 MB of code resident
 * (docs/stack-notes.md, "The agent's memory").
 */
export const AGENT_BUSY_WATCH: BusyWatch = { checkEveryMs: 250, busyShare: 0.4, busyChecks: 40, busyWork: 5_000, busyWorkChecks: 2 };

/** What released the compilers, in words: "≥ 20,000 log lines a second for 0.5 s". */
export function releaseReason(watch: BusyWatch, why: 'cpu' | 'work'): string {
  const seconds = (looks: number) => `${(looks * watch.checkEveryMs) / 1000} s`;
  if (why === 'cpu') return `busy for ${seconds(watch.busyChecks)} in a row`;
  const perSecond = Math.round(((watch.busyWork ?? 0) * 1000) / watch.checkEveryMs);
  return `≥ ${perSecond.toLocaleString('en-US')} log lines a second for ${seconds(watch.busyWorkChecks ?? 1)}`;
}

/**
 * Releases the compilers once the process has been busy `busyChecks` looks in a row, or has done
 * `busyWork` of `work()` (a counter that only grows) in each of `busyWorkChecks` looks in a row;
 * the watch then ends. Returns a function that ends it earlier.
 */
export function releaseWhenBusy(watch: BusyWatch = AGENT_BUSY_WATCH, onRelease?: (why: 'cpu' | 'work') => void, work?: () => number): () => void {
  if (!held) return () => {};
  let last = process.cpuUsage();
  let lastAt = process.hrtime.bigint();
  let lastWork = work?.() ?? 0;
  let busyInARow = 0;
  let workInARow = 0;
  const timer = setInterval(() => {
    const used = process.cpuUsage(last);
    const now = process.hrtime.bigint();
    const share = (used.user + used.system) / (Number(now - lastAt) / 1_000);
    last = process.cpuUsage();
    lastAt = now;
    busyInARow = share >= watch.busyShare ? busyInARow + 1 : 0;
    if (work !== undefined && watch.busyWork !== undefined) {
      const done = work();
      workInARow = done - lastWork >= watch.busyWork ? workInARow + 1 : 0;
      lastWork = done;
    }
    if (!held) return clearInterval(timer); // released by someone else
    const why = workInARow >= (watch.busyWorkChecks ?? 1) ? 'work' : busyInARow >= watch.busyChecks ? 'cpu' : undefined;
    if (why !== undefined) {
      clearInterval(timer);
      releaseCompilers();
      onRelease?.(why);
    }
  }, watch.checkEveryMs).unref();
  return () => clearInterval(timer);
}
