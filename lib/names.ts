/** Names users choose, validated the same way in the CLI and the control plane. */
import { MAX_PROCESS_TYPE_LENGTH } from './limits';
import { showNul } from './nul-byte';

const APP_NAME = /^[a-z0-9](?:[a-z0-9-]{0,28}[a-z0-9])?$/;
const AGENT_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const PROCESS_TYPE = new RegExp(`^[A-Za-z0-9_-]{1,${MAX_PROCESS_TYPE_LENGTH}}$`);
// Instances are numbered from 1 (Heroku's web.1); `web.0` and `web.01` name nothing.
// Not bounded by MAX_PROCESS_TYPE_LENGTH: instance names come from releases, and an agent still
// running one whose type an older version let through must be able to report it.
const INSTANCE = /^([A-Za-z0-9_-]+)\.([1-9][0-9]*)$/;

/** Whether `name` can be a process type (`web`, `worker`, `my_job-2`): up to 63 letters, digits, `_` and `-`. */
export function isProcessType(name: string): boolean {
  return PROCESS_TYPE.test(name);
}

/**
 * Names every JavaScript object answers to (`__proto__`, `constructor`, `toString` …): a type so
 * named would be valid but read back wrong wherever a formation or setting is an object.
 */
export function reservedProcessType(name: string): boolean {
  return name in Object.prototype;
}

/** The rule of isProcessType(), for messages: "use …". */
export const PROCESS_TYPE_RULE = `up to ${MAX_PROCESS_TYPE_LENGTH} letters, digits, \`_\` and \`-\``;

/** Why `name` is not a valid process type, or undefined when it is. */
export function processTypeProblem(name: string): string | undefined {
  if (isProcessType(name)) return undefined;
  const tooLong = processTypeTooLong(name);
  if (tooLong) return `process type ${tooLong}`;
  return `invalid process type \`${excerpt(name)}\`: use ${PROCESS_TYPE_RULE}`;
}

/**
 * For a name of the right characters but too long, "`NAME` is N characters long; at most …" (to
 * follow "process type" or a service's name); else undefined.
 */
export function processTypeTooLong(name: string): string | undefined {
  if (name.length <= MAX_PROCESS_TYPE_LENGTH || !/^[A-Za-z0-9_-]+$/.test(name)) return undefined;
  return `\`${excerpt(name)}\` is ${name.length} characters long; at most ${MAX_PROCESS_TYPE_LENGTH} are allowed (its instances' log files are named after it)`;
}

// A name pasted by mistake (a whole command) must not make a message of kilobytes.
function excerpt(text: string): string {
  const shown = showNul(text);
  return shown.length > 80 ? `${shown.slice(0, 79)}…` : shown;
}

/** Why `name` is not a valid app name, or undefined when it is. */
export function appNameProblem(name: string): string | undefined {
  if (APP_NAME.test(name)) return undefined;
  return `invalid app name \`${name}\`: use 1–30 lowercase letters, digits and dashes, starting and ending with a letter or digit`;
}

/** Why `id` is not a valid agent id, or undefined when it is. */
export function agentIdProblem(id: string): string | undefined {
  if (AGENT_ID.test(id)) return undefined;
  return `invalid agent id \`${id}\`: use up to 63 letters, digits, dots, dashes and underscores`;
}

/** Splits `worker.3` into its type and number; undefined for anything else (`worker.0` too). */
export function parseInstanceName(name: string): { type: string; number: number } | undefined {
  const match = INSTANCE.exec(name);
  return match ? { type: match[1]!, number: Number(match[2]) } : undefined;
}

const CONFIG_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Variables the platform sets for every instance besides its CLUSTER_* ones; config cannot override them. */
const PLATFORM_KEYS: ReadonlySet<string> = new Set(['PORT', 'DYNO']);
/** Every variable named so is the platform's (CLUSTER_APP, CLUSTER_INSTANCE, CLUSTER_JOB…), now or later. */
const PLATFORM_PREFIX = 'CLUSTER_';

/**
 * Why `key` cannot be a config var, or undefined when it can. `unsetting`: a platform name that
 * an older version let be set can still be unset.
 */
export function configKeyProblem(key: string, unsetting = false): string | undefined {
  if (!CONFIG_KEY.test(key)) return `invalid config key \`${showNul(key)}\`: use letters, digits and underscores, not starting with a digit`;
  if (!unsetting && PLATFORM_KEYS.has(key)) return `\`${key}\` is set by the platform for every instance and cannot be configured`;
  if (!unsetting && key.startsWith(PLATFORM_PREFIX)) {
    return `\`${key}\` cannot be configured: names starting with ${PLATFORM_PREFIX} are the platform's (it sets CLUSTER_APP, CLUSTER_INSTANCE and others in every instance)`;
  }
  // A JavaScript object (and the wire's map decoding) would take it as the object's prototype.
  if (key === '__proto__') return 'invalid config key `__proto__`: it cannot be stored';
  return undefined;
}

const LABEL_KEY = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$/;
const LABEL_VALUE = /^[A-Za-z0-9._:/@+-]{1,63}$/;
const DATACENTER = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** Why `key=value` cannot be a label in a placement rule, or undefined when it can. */
export function labelProblem(key: string, value: string): string | undefined {
  if (!LABEL_KEY.test(key)) return `invalid label key \`${key}\`: use up to 63 letters, digits, dots, dashes, underscores and slashes, starting with a letter or digit`;
  if (!LABEL_VALUE.test(value)) return `invalid value \`${value}\` of label \`${key}\`: use 1–63 letters, digits and . _ - / : @ +`;
  return undefined;
}

/** Why `dc` is not a valid datacenter name, or undefined when it is. */
export function datacenterProblem(dc: string): string | undefined {
  if (DATACENTER.test(dc)) return undefined;
  return `invalid datacenter \`${dc}\`: use up to 63 letters, digits, dots, dashes and underscores`;
}
