/**
 * Parsing of `cluster scale TYPE=N …` arguments, before anything is sent to the control plane.
 * Heroku's relative form `TYPE+N` / `TYPE-N` is a change the control plane applies to the
 * current count in the same transaction (so concurrent changes add up; below zero is refused there).
 *
 * Only the syntax is checked here. How many instances a type may have is the control plane's
 * `--max-per-type` (lib/limits.ts has the default), which an operator may raise: the control
 * plane refuses a count over it with a message naming the limit and the flag (reason
 * `limit-exceeded`, exit 1), so this CLI never refuses what the cluster would accept.
 */
import { processTypeProblem } from '../lib/names';
import { MAX_WIRE_COUNT } from '../lib/limits';

/** A scale argument the user must fix; `arg` is the offending argument (undefined when none was given). */
export class ScaleArgError extends Error {
  override name = 'ScaleArgError';
  constructor(
    message: string,
    readonly arg?: string,
  ) {
    super(message);
  }
}

// Digits only: signs, decimals and exponents (`+2`, `1.5`, `1e3`) are rejected, leading zeros are fine.
const COUNT = /^[0-9]+$/;

/** One parsed argument: a total, or (relative) a signed change of the current count. */
export interface ScaleArg {
  type: string;
  count: number;
  relative?: true;
}

/** Parses `web=2 worker+10 clock-1` into changes per process type, in argument order; throws ScaleArgError. */
export function parseScaleArgs(args: string[]): ScaleArg[] {
  if (args.length === 0) {
    throw new ScaleArgError('no process types to scale: give TYPE=N, e.g. `cluster scale web=2 worker=10`');
  }
  const result: ScaleArg[] = [];
  const seen = new Map<string, string>();
  for (const arg of args) {
    const parsed = parseOne(arg);
    const earlier = seen.get(parsed.type);
    if (earlier !== undefined) {
      throw new ScaleArgError(`${arg}: process type \`${parsed.type}\` is already given as ${earlier}`, arg);
    }
    seen.set(parsed.type, arg);
    result.push(parsed);
  }
  return result;
}

/** A change as the user writes it: `worker=3`, `worker+2`, `worker-1`. */
export function formatScaleArg({ type, count, relative }: ScaleArg): string {
  if (!relative) return `${type}=${count}`;
  return count < 0 ? `${type}${count}` : `${type}+${count}`;
}

function parseOne(arg: string): ScaleArg {
  if (arg === '') throw new ScaleArgError('empty argument: expected TYPE=N, e.g. worker=3', arg);
  const equals = arg.indexOf('=');
  if (equals < 0) return parseRelative(arg);
  const type = arg.slice(0, equals);
  const value = arg.slice(equals + 1);
  if (type === '') throw new ScaleArgError(`${arg}: missing process type before \`=\`, e.g. worker${arg}`, arg);
  const typeProblem = processTypeProblem(type);
  if (typeProblem) throw new ScaleArgError(`${arg}: ${typeProblem}`, arg);
  const colon = value.indexOf(':');
  if (colon >= 0) {
    // Heroku's `web=2:standard-1X`: every instance here gets one slot of its host.
    const count = value.slice(0, colon);
    const suggestion = COUNT.test(count) ? count : 'N';
    throw new ScaleArgError(`${arg}: instance sizes are not supported; use ${type}=${suggestion}`, arg);
  }
  if (value === '') throw new ScaleArgError(`${arg}: missing instance count after \`=\`, e.g. ${type}=2`, arg);
  if (/^-\d+$/.test(value)) {
    throw new ScaleArgError(`${arg}: an instance count cannot be below 0; \`${type}=0\` stops them all, \`${type}${value}\` removes ${value.slice(1)}`, arg);
  }
  if (!COUNT.test(value)) {
    throw new ScaleArgError(`${arg}: instance count must be a whole number, e.g. ${type}=2`, arg);
  }
  return { type, count: wireCount(arg, value) };
}

/** `worker+2` or `worker-1` (the last sign splits: `worker-2-1` is worker-2 minus 1). */
function parseRelative(arg: string): ScaleArg {
  const sign = Math.max(arg.lastIndexOf('+'), arg.lastIndexOf('-'));
  const type = sign > 0 ? arg.slice(0, sign) : '';
  const amount = arg.slice(sign + 1);
  const plus = arg[sign] === '+';
  // `worker+abc` is a broken change; `my-worker` is a type without a count.
  if (sign < 0 || (!plus && !COUNT.test(amount))) throw new ScaleArgError(`${arg}: expected TYPE=N, TYPE+N or TYPE-N, e.g. worker=3 or worker+1`, arg);
  if (type === '') throw new ScaleArgError(`${arg}: missing process type before \`${arg[sign]}\`, e.g. worker${arg}`, arg);
  const typeProblem = processTypeProblem(type);
  if (typeProblem) throw new ScaleArgError(`${arg}: ${typeProblem}`, arg);
  if (amount === '') throw new ScaleArgError(`${arg}: missing a number after \`${arg[sign]}\`, e.g. ${type}${arg[sign]}1`, arg);
  if (!COUNT.test(amount)) {
    throw new ScaleArgError(`${arg}: the change after \`${arg[sign]}\` must be a whole number, e.g. ${type}${arg[sign]}1`, arg);
  }
  const n = wireCount(arg, amount);
  return { type, count: plus ? n : -n, relative: true };
}

/**
 * The number in `digits`, refused only when no control plane could take it: the request carries
 * counts as 32-bit integers. The per-type limit itself is the control plane's (see above).
 */
function wireCount(arg: string, digits: string): number {
  const n = Number(digits);
  if (n > MAX_WIRE_COUNT) throw new ScaleArgError(`${arg}: ${digits} is too large a count (the most a request can carry is ${MAX_WIRE_COUNT})`, arg);
  return n;
}
