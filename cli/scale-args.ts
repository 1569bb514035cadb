/** Parsing of `cluster scale TYPE=N …` arguments, before anything is sent to the control plane. */

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

/** Parses `web=2 worker=10` into counts per process type, in argument order; throws ScaleArgError. */
export function parseScaleArgs(args: string[], maxPerType = 1000): Array<{ type: string; count: number }> {
  if (args.length === 0) {
    throw new ScaleArgError('no process types to scale: give TYPE=N, e.g. `cluster scale web=2 worker=10`');
  }
  const result: Array<{ type: string; count: number }> = [];
  const seen = new Map<string, string>();
  for (const arg of args) {
    const { type, count } = parseOne(arg, maxPerType);
    const earlier = seen.get(type);
    if (earlier !== undefined) {
      throw new ScaleArgError(`${arg}: process type \`${type}\` is already given as ${earlier}`, arg);
    }
    seen.set(type, arg);
    result.push({ type, count });
  }
  return result;
}

function parseOne(arg: string, maxPerType: number): { type: string; count: number } {
  if (arg === '') throw new ScaleArgError('empty argument: expected TYPE=N, e.g. worker=3', arg);
  const equals = arg.indexOf('=');
  if (equals < 0) {
    // Heroku's relative form; say so rather than the generic message.
    if (/^[A-Za-z0-9_-]+[+-][0-9]+$/.test(arg)) {
      throw new ScaleArgError(`${arg}: relative scaling is not supported; give the total, e.g. worker=3`, arg);
    }
    throw new ScaleArgError(`${arg}: expected TYPE=N, e.g. worker=3`, arg);
  }
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
