/** Procfile parsing (Heroku's format), shared by the CLI's checks and the control plane's deploy. */

/** A Procfile that cannot be used; `line` is 1-based, 0 when the problem is the file as a whole. */
export class ProcfileError extends Error {
  override name = 'ProcfileError';
  constructor(
    message: string,
    readonly line: number,
  ) {
    super(message);
  }
}

import { commandTooLong, MAX_COMMAND_BYTES, MAX_PROCFILE_BYTES, sizeAndLimit } from './limits';
import { processTypeProblem, reservedProcessType } from './names';
import { nulByte } from './nul-byte';
import { oneOffTypeClash } from './one-off';

/**
 * Parses a Procfile into process types → commands, in file order. Accepts what Heroku and Foreman
 * accept: `#` comment lines, blank lines, CRLF, a UTF-8 BOM and spaces around the colon. Commands
 * are kept verbatim (`$PORT` is expanded by the shell at run time). Throws the first ProcfileError.
 */
export function parseProcfile(text: string): Record<string, string> {
  const { types, errors } = procfileProblems(text);
  if (errors.length > 0) throw errors[0]!;
  return types;
}

/** At most this many bad lines are named: a binary file pasted by mistake must not print thousands. */
export const MAX_PROCFILE_PROBLEMS = 20;

/**
 * Every problem of a Procfile, not only the first, in one pass: the first MAX_PROCFILE_PROBLEMS
 * bad lines (`omitted` counts the rest), and the types of the good lines. A problem of the file
 * as a whole (line 0) is the only one.
 */
export function procfileProblems(text: string): { types: Record<string, string>; errors: ProcfileError[]; omitted: number } {
  const size = Buffer.byteLength(text);
  if (size > MAX_PROCFILE_BYTES) {
    const [shown, limit] = sizeAndLimit(size, MAX_PROCFILE_BYTES);
    const tooLarge = `Procfile is ${shown}; at most ${limit} is allowed: put long commands in scripts and run those`;
    return { types: {}, errors: [new ProcfileError(tooLarge, 0)], omitted: 0 };
  }
  // Editors on Windows save a BOM; Heroku ignores it, so must we or the first type is `\uFEFFweb`.
  const lines = text.replace(/^\uFEFF/, '').split(/\r\n|\r|\n/);
  const types: Record<string, string> = {};
  const definedOn = new Map<string, number>();
  const errors: ProcfileError[] = [];
  let omitted = 0;
  lines.forEach((raw, index) => {
    const line = index + 1;
    const problem = lineProblem(raw.trim(), line, definedOn, types);
    if (problem === undefined) return;
    if (errors.length < MAX_PROCFILE_PROBLEMS) errors.push(new ProcfileError(`Procfile line ${line}: ${problem}`, line));
    else omitted++;
  });
  if (errors.length === 0 && definedOn.size === 0) errors.push(new ProcfileError('Procfile declares no process types', 0));
  return { types, errors, omitted };
}

/** `omitted` bad lines beyond those named: `5 more bad lines`. */
export function moreBadLines(omitted: number): string {
  return `${omitted} more bad line${omitted === 1 ? '' : 's'}`;
}

/** Adds a good line's type to `types`; what is wrong with a bad one. Blank and comment lines are good. */
function lineProblem(content: string, line: number, definedOn: Map<string, number>, types: Record<string, string>): string | undefined {
  if (content === '' || content.startsWith('#')) return undefined;
  // Split at the first colon only: commands often contain more (`-b 0.0.0.0:$PORT`).
  const colon = content.indexOf(':');
  const type = colon < 0 ? '' : content.slice(0, colon).trim();
  const command = colon < 0 ? '' : content.slice(colon + 1).trim();
  if (colon < 0 || type === '') return `expected \`type: command\`, got \`${excerpt(content)}\``;
  const typeProblem = processTypeProblem(type);
  if (typeProblem) return typeProblem;
  if (reservedProcessType(type)) return `process type \`${type}\` is a reserved name: choose another`;
  const clash = oneOffTypeClash(type);
  if (clash) return `process type \`${type}\` ${clash}`;
  if (command === '') return `process type \`${type}\` has no command`;
  const nul = nulByte(command);
  if (nul) return `the command of process type \`${type}\` has ${nul}`;
  const commandBytes = Buffer.byteLength(command);
  if (commandBytes > MAX_COMMAND_BYTES) return commandTooLong(type, commandBytes);
  const first = definedOn.get(type);
  if (first !== undefined) return `process type \`${type}\` is already defined on line ${first}`;
  definedOn.set(type, line);
  // defineProperty, not assignment: a type named `__proto__` must become a key, not a prototype.
  Object.defineProperty(types, type, { value: command, enumerable: true, writable: true, configurable: true });
  return undefined;
}

// A binary file or a minified script pasted by mistake must not produce a 100 kB error message.
function excerpt(text: string): string {
  return text.length > 80 ? `${text.slice(0, 79)}…` : text;
}

/**
 * The Procfile to use among `files` (names in the app's root): `Procfile.<env>`, then
 * `Procfile_<env>` when an environment is given, else `Procfile`; undefined if none. No fallback
 * to `Procfile` for an environment: a deploy for `production` must not quietly run the default.
 */
export function findProcfile(files: string[], env?: string): string | undefined {
  const candidates = env ? [`Procfile.${env}`, `Procfile_${env}`] : ['Procfile'];
  const present = new Set(files);
  return candidates.find((name) => present.has(name));
}
