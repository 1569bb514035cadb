/**
 * Holds V8's optimizing compiler (TurboFan) off in a process until it is busy.
 *
 * The compiler is code in the `node` binary: the first function it optimizes brings ~3–5 MB of
 * that code into the process's memory (resident pages of the binary, counted in its RSS), and a
 * daemon that is mostly idle gains nothing from it. V8 reads `--turbofan` each time it considers
 * optimizing a function, so `v8.setFlagsFromString` can turn it off at start and on again later
 * (what was interpreted meanwhile is optimized once it is hot again). Measured on the agent
 * (docs/stack-notes.md, "The agent's memory"): idle ~3 MB less RSS, with 200 instances ~5 MB;
 * interpreted, a log flood costs several times the CPU per line, so the agent releases the
 * compiler as soon as it is under sustained load (agent/young-generation.ts says when).
 */
import * as v8 from 'node:v8';

/** Node/V8 flags that choose the tiers themselves: with one of them given, we leave the flags alone. */
const TIERING_FLAG = /^--(no-)?(turbofan|opt|jitless|lite-mode|always-turbofan|always-opt)(=|$)/;

let held = false;

/** Whether the process was started with a flag that sets the compiler tiers (execArgv or NODE_OPTIONS). */
export function tiersChosenAtStart(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ''): boolean {
  return [...execArgv, ...nodeOptions.split(/\s+/)].some((flag) => TIERING_FLAG.test(flag.replace(/_/g, '-')));
}

/** Turns the optimizing compiler off (once; not when the process was started with its own tiering flags). */
export function holdOptimizingCompiler(): void {
  if (held || tiersChosenAtStart()) return;
  v8.setFlagsFromString('--no-turbofan');
  held = true;
}

/** Turns it on again, when it was held. */
export function releaseOptimizingCompiler(): void {
  if (!held) return;
  v8.setFlagsFromString('--turbofan');
  held = false;
}

export function optimizingCompilerHeld(): boolean {
  return held;
}
