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
  /** Look every this many ms at the CPU the process used since the last look. */
  checkEveryMs: number;
  /** A look is busy when the process used at least this share of one core (0–1). */
  busyShare: number;
  /** Busy looks in a row that release the compilers. */
  busyChecks: number;
}

/**
 * The agent's: 3 s in a row at ≥ 40 % of a core. A scale of 200 took 10–46 % of a core for ~5 s
 * on a loaded machine, never 40 % twice in a row; an interpreted log flood takes more than half
 * a core (docs/stack-notes.md, "The agent's memory").
 */
export const AGENT_BUSY_WATCH: BusyWatch = { checkEveryMs: 1_000, busyShare: 0.4, busyChecks: 3 };

/**
 * Releases the compilers once the process has been busy `busyChecks` looks in a row; the watch
 * then ends. Returns a function that ends it earlier.
 */
export function releaseWhenBusy(watch: BusyWatch = AGENT_BUSY_WATCH, onRelease?: () => void): () => void {
  if (!held) return () => {};
  let last = process.cpuUsage();
  let lastAt = process.hrtime.bigint();
  let inARow = 0;
  const timer = setInterval(() => {
    const used = process.cpuUsage(last);
    const now = process.hrtime.bigint();
    const share = (used.user + used.system) / (Number(now - lastAt) / 1_000);
    last = process.cpuUsage();
    lastAt = now;
    inARow = share >= watch.busyShare ? inARow + 1 : 0;
    if (!held) return clearInterval(timer); // released by someone else
    if (inARow >= watch.busyChecks) {
      clearInterval(timer);
      releaseCompilers();
      onRelease?.();
    }
  }, watch.checkEveryMs).unref();
  return () => clearInterval(timer);
}
