/**
 * Size limits of what users send, checked in the CLI (early, with a clear error) and again in
 * the control plane (the authority). All are far below etcd's 1.5 MiB request limit, and an
 * instance's environment and command stay far below what the kernel lets exec() take, so a
 * release that is accepted can always be stored and always be started. docs/limits.md lists them.
 */

const KiB = 1024;

/** A Procfile (or the Procfile a compose file becomes). */
export const MAX_PROCFILE_BYTES = 64 * KiB;
/** A compose file as read from disk. */
export const MAX_COMPOSE_BYTES = 256 * KiB;
/**
 * A process type's name, in characters (as a DNS label): its instances' log files are named
 * `TYPE.N.stdout`, and a file name may have at most 255 bytes.
 */
export const MAX_PROCESS_TYPE_LENGTH = 63;
/** One process type's command. */
export const MAX_COMMAND_BYTES = 16 * KiB;
/**
 * One config var as the process sees it, `KEY=value`: the kernel refuses (E2BIG) any single
 * argument or environment string over 128 KiB (MAX_ARG_STRLEN), terminating NUL included.
 */
export const MAX_CONFIG_VAR_BYTES = 128 * KiB - 1;
/**
 * Every config var plus the longest command: what one exec() of an instance carries from
 * the release (the platform adds a few hundred bytes). Linux allows a quarter of the stack
 * limit (2 MiB with the usual 8 MiB) in total; this leaves most of it unused.
 */
export const MAX_EXEC_BYTES = 256 * KiB;
/**
 * How many instances one process type may have unless the control plane is started with
 * another `--max-per-type`. Only the control plane checks it (the CLI cannot know the flag).
 */
export const DEFAULT_MAX_PER_TYPE = 1000;
/** The flag that changes it, for messages. */
export const MAX_PER_TYPE_FLAG = '--max-per-type';
/** The most an instance count on the wire can be (a 32-bit integer in proto/api.proto). */
export const MAX_WIRE_COUNT = 2 ** 31 - 1;
/** The longest a join or login token may be valid (`agents:token --ttl`), in seconds. */
export const MAX_TOKEN_TTL_S = 7 * 86_400;
/** The most servers one join token may let in (`agents:token --uses`). */
export const MAX_TOKEN_USES = 1000;
/** The longest stop grace period of a process type (`ps:grace`), in seconds. */
export const MAX_GRACE_SECONDS = 3600;
/** How many config vars an app may have. */
export const MAX_CONFIG_VARS = 1000;
/** Labels one agent may carry (`--label`, its join token's): its record is one etcd value every replica keeps. */
export const MAX_AGENT_LABELS = 100;

/**
 * Why a registration with these labels is refused (too many), or undefined: the control plane's
 * check, which `agent start`, `join` and `install` make too before anything starts.
 */
export function agentLabelCountProblem(labels: Record<string, string>): string | undefined {
  const count = Object.keys(labels).length;
  return count > MAX_AGENT_LABELS ? `${count} labels; an agent carries at most ${MAX_AGENT_LABELS}` : undefined;
}
/**
 * The most text a gathered log history (`cluster logs -n N`, N up to 100,000) holds: each
 * agent's, and the control plane's merge of several hosts'. The oldest lines are left out
 * beyond it, with a warning; `-n all` streams every line.
 */
export const MAX_HISTORY_TEXT = 64 * KiB * KiB;

/**
 * Bytes as a short figure: `64 KiB`, `1.2 MiB`. Rounded up, never down, so that a size over a
 * limit never reads as the limit (16,385 bytes is `16.1 KiB`, not `16 KiB`).
 */
export function formatBytes(n: number): string {
  if (n < KiB) return `${n} bytes`;
  if (n < 1024 * KiB) return `${Math.ceil((n / KiB) * 10) / 10} KiB`;
  return `${Math.ceil((n / (1024 * KiB)) * 10) / 10} MiB`;
}

/**
 * A size over `limit` and the limit, for "is SIZE; at most LIMIT": short figures, or exact bytes
 * when those would read the same (a limit such as 128 KiB − 1 byte): `131,072 bytes` / `131,071 bytes`.
 */
export function sizeAndLimit(size: number, limit: number): [string, string] {
  const [short, shortLimit] = [formatBytes(size), formatBytes(limit)];
  if (short !== shortLimit) return [short, shortLimit];
  return [`${size.toLocaleString('en-US')} bytes`, `${limit.toLocaleString('en-US')} bytes`];
}

/** Why one config var is too large, or undefined. */
export function configVarProblem(key: string, value: string): string | undefined {
  const size = Buffer.byteLength(key) + 1 + Buffer.byteLength(value);
  if (size <= MAX_CONFIG_VAR_BYTES) return undefined;
  const [shown, limit] = sizeAndLimit(size, MAX_CONFIG_VAR_BYTES);
  return `config var \`${key}\` is ${shown}; at most ${limit} (name, \`=\` and value) fits in a process's environment: keep large data in a file or a store and put its location in the config`;
}

/**
 * Why a release with these commands and config vars could not be started (or stored), or
 * undefined when it can.
 */
export function releaseSizeProblem(processTypes: Record<string, string>, env: Record<string, string>): string | undefined {
  const keys = Object.keys(env);
  if (keys.length > MAX_CONFIG_VARS) return `${keys.length} config vars; at most ${MAX_CONFIG_VARS} are allowed`;
  let envBytes = 0;
  for (const key of keys) {
    const problem = configVarProblem(key, env[key]!);
    if (problem) return problem;
    envBytes += Buffer.byteLength(key) + Buffer.byteLength(env[key]!) + 2;
  }
  let longest = 0;
  for (const [type, command] of Object.entries(processTypes)) {
    const size = Buffer.byteLength(command);
    if (size > MAX_COMMAND_BYTES) return commandTooLong(type, size);
    longest = Math.max(longest, size);
  }
  if (envBytes + longest > MAX_EXEC_BYTES) {
    const [total, limit] = sizeAndLimit(envBytes + longest, MAX_EXEC_BYTES);
    return `the config vars (${formatBytes(envBytes)}) and the longest command (${formatBytes(longest)}) add up to ${total}, more than ${limit}, the most an instance's environment may carry: keep large data in a file or a store and put its location in the config`;
  }
  return undefined;
}

/** The message for a command over MAX_COMMAND_BYTES. */
export function commandTooLong(type: string, size: number): string {
  const [shown, limit] = sizeAndLimit(size, MAX_COMMAND_BYTES);
  return `the command of process type \`${type}\` is ${shown}; at most ${limit} is allowed: put a long command in a script and run that`;
}
