/**
 * Parsing of `cluster scale TYPE=N …` arguments, before anything is sent to the control plane.
 * Heroku's relative form `TYPE+N` / `TYPE-N` is a change the control plane applies to the
 * current count in the same transaction (so concurrent changes add up; below zero is refused there).
 */

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

const TYPE_NAME = /^[A-Za-z0-9_-]+$/;
// Digits only: signs, decimals and exponents (`+2`, `1.5`, `1e3`) are rejected, leading zeros are fine.
const COUNT = /^[0-9]+$/;

/** One parsed argument: a total, or (relative) a signed change of the current count. */
export interface ScaleArg {
  type: string;
  count: number;
  relative?: true;
}

/** Parses `web=2 worker+10 clock-1` into changes per process type, in argument order; throws ScaleArgError. */
export function parseScaleArgs(args: string[], maxPerType = 1000): ScaleArg[] {
  if (args.length === 0) {
    throw new ScaleArgError('no process types to scale: give TYPE=N, e.g. `cluster scale web=2 worker=10`');
  }
  const result: ScaleArg[] = [];
  const seen = new Map<string, string>();
  for (const arg of args) {
    const parsed = parseOne(arg, maxPerType);
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

function parseOne(arg: string, maxPerType: number): ScaleArg {
  if (arg === '') throw new ScaleArgError('empty argument: expected TYPE=N, e.g. worker=3', arg);
  const equals = arg.indexOf('=');
  if (equals < 0) return parseRelative(arg, maxPerType);
  const type = arg.slice(0, equals);
  const value = arg.slice(equals + 1);
  if (type === '') throw new ScaleArgError(`${arg}: missing process type before \`=\`, e.g. worker${arg}`, arg);
  if (!TYPE_NAME.test(type)) {
    throw new ScaleArgError(`${arg}: invalid process type \`${type}\`: use letters, digits, \`_\` and \`-\``, arg);
  }
  const colon = value.indexOf(':');
  if (colon >= 0) {
    // Heroku's `web=2:standard-1X`: every instance here gets one slot of its host.
    const count = value.slice(0, colon);
    const suggestion = COUNT.test(count) ? count : 'N';
    throw new ScaleArgError(`${arg}: instance sizes are not supported; use ${type}=${suggestion}`, arg);
  }
  if (value === '') throw new ScaleArgError(`${arg}: missing instance count after \`=\`, e.g. ${type}=2`, arg);
  if (!COUNT.test(value)) {
    throw new ScaleArgError(`${arg}: instance count must be a whole number from 0 to ${maxPerType}`, arg);
  }
  const count = Number(value);
  if (count > maxPerType) {
    throw new ScaleArgError(`${arg}: at most ${maxPerType} instances per process type`, arg);
  }
  return { type, count };
}

/** `worker+2` or `worker-1` (the last sign splits: `worker-2-1` is worker-2 minus 1). */
function parseRelative(arg: string, maxPerType: number): ScaleArg {
  const sign = Math.max(arg.lastIndexOf('+'), arg.lastIndexOf('-'));
  const type = sign > 0 ? arg.slice(0, sign) : '';
  const amount = arg.slice(sign + 1);
  const plus = arg[sign] === '+';
  // `worker+abc` is a broken change; `my-worker` is a type without a count.
  if (sign < 0 || (!plus && !COUNT.test(amount))) throw new ScaleArgError(`${arg}: expected TYPE=N, TYPE+N or TYPE-N, e.g. worker=3 or worker+1`, arg);
  if (type === '') throw new ScaleArgError(`${arg}: missing process type before \`${arg[sign]}\`, e.g. worker${arg}`, arg);
  if (!TYPE_NAME.test(type)) {
    throw new ScaleArgError(`${arg}: invalid process type \`${type}\`: use letters, digits, \`_\` and \`-\``, arg);
  }
  if (amount === '') throw new ScaleArgError(`${arg}: missing a number after \`${arg[sign]}\`, e.g. ${type}${arg[sign]}1`, arg);
  if (!COUNT.test(amount)) {
    throw new ScaleArgError(`${arg}: the change after \`${arg[sign]}\` must be a whole number from 0 to ${maxPerType}, e.g. ${type}${arg[sign]}1`, arg);
  }
  const n = Number(amount);
  if (n > maxPerType) throw new ScaleArgError(`${arg}: at most ${maxPerType} instances per process type`, arg);
  return { type, count: plus ? n : -n, relative: true };
}
