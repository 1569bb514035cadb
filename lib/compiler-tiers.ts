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
 * CPU per line, so both are released for good at the start of a log flood (`releaseOnBurst`) or
 * once the process has been busy for seconds in a row (`releaseWhenBusy`); not by a scale of 200.
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
  /** A look is busy when the process used at least this share of one core (0–1) … */
  busyShare: number;
  /** … and this many busy looks in a row release the compilers. */
  busyChecks: number;
}

/** The agent's: 10 s in a row at ≥ 40 % of a core (a look every 250 ms). */
export const AGENT_BUSY_WATCH: BusyWatch = { checkEveryMs: 250, busyShare: 0.4, busyChecks: 40 };

export interface BurstRule {
  /** This much work (log lines, for the agent) … */
  amount: number;
  /** … counted within this many ms of the first of it releases the compilers. */
  withinMs: number;
}

/**
 * The agent's: 2,000 log lines within 100 ms (20,000 a second), counted as they are stored, so
 * the compilers come within milliseconds of a flood's start. Interpreted, a log line costs the
 * agent several times its optimized CPU, and what it captures meanwhile piles up in front of
 * every follower. Measured at 250k lines/s to `cluster logs -f` (bench/logs.ts --phases paced64,
 * docs/stack-notes.md): released after 2 looks of 250 ms at ≥ 20,000 lines a second, the first
 * ~0.9 s of a flood arrived up to ~250 ms late (p99 of a 4 s flood 214–233 ms); after one look of
 * 100 ms, 84–111 ms; as they are stored, as an agent that never held them (65–72 ms).
 * Spawning and stopping are not worth the compilers' memory: a scale of 200 right after a stop
 * of 200 kept an agent at ≥ 40 % of a core for 3 s on a loaded machine, which released the
 * compilers for good under a former rule (3 s at 40 %) and left TurboFan's ~4 MB of code
 * resident (docs/stack-notes.md, "The agent's memory"); the lines of a start ("Starting process
 * …" and what the processes print as they start) come a few hundred a second.
 */
export const AGENT_FLOOD: BurstRule = { amount: 2_000, withinMs: 100 };

/** What released the compilers, in words: "busy for 10 s in a row", "≥ 2,000 log lines within 0.1 s". */
export function releaseReason(why: { watch: BusyWatch } | { burst: BurstRule }): string {
  if ('watch' in why) return `busy for ${(why.watch.busyChecks * why.watch.checkEveryMs) / 1000} s in a row`;
  return `≥ ${why.burst.amount.toLocaleString('en-US')} log lines within ${why.burst.withinMs / 1000} s`;
}

/**
 * Releases the compilers once the process has been busy `busyChecks` looks in a row; the watch
 * then ends (also when they were released otherwise). Returns a function that ends it earlier.
 */
export function releaseWhenBusy(watch: BusyWatch = AGENT_BUSY_WATCH, onRelease?: () => void): () => void {
  if (!held) return () => {};
  let last = process.cpuUsage();
  let lastAt = process.hrtime.bigint();
  let busyInARow = 0;
  const timer = setInterval(() => {
    const used = process.cpuUsage(last);
    const now = process.hrtime.bigint();
    const share = (used.user + used.system) / (Number(now - lastAt) / 1_000);
    last = process.cpuUsage();
    lastAt = now;
    busyInARow = share >= watch.busyShare ? busyInARow + 1 : 0;
    if (!held) return clearInterval(timer); // released by someone else
    if (busyInARow >= watch.busyChecks) {
      clearInterval(timer);
      releaseCompilers();
      onRelease?.();
    }
  }, watch.checkEveryMs).unref();
  return () => clearInterval(timer);
}

/**
 * A counter to call as work is done (`count(n)`): it releases the compilers the moment `amount`
 * was counted within `withinMs` of the first of it (windows that start with the first count after
 * the last one ended). Cheap once they are released: one test of a flag.
 */
export function releaseOnBurst(rule: BurstRule, onRelease?: () => void, now: () => number = performance.now.bind(performance)): (n: number) => void {
  let windowStart = -Infinity;
  let counted = 0;
  return (n) => {
    if (!held) return;
    const t = now();
    if (t - windowStart > rule.withinMs) {
      windowStart = t;
      counted = 0;
    }
    counted += n;
    if (counted >= rule.amount) {
      releaseCompilers();
      onRelease?.();
    }
  };
}
