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

import { commandTooLong, formatBytes, MAX_COMMAND_BYTES, MAX_PROCFILE_BYTES } from './limits';
import { isProcessType, PROCESS_TYPE_RULE } from './names';

/**
 * Parses a Procfile into process types → commands, in file order. Accepts what Heroku and Foreman
 * accept: `#` comment lines, blank lines, CRLF, a UTF-8 BOM and spaces around the colon. Commands
 * are kept verbatim (`$PORT` is expanded by the shell at run time). Throws ProcfileError.
 */
export function parseProcfile(text: string): Record<string, string> {
  const size = Buffer.byteLength(text);
  if (size > MAX_PROCFILE_BYTES) {
    throw new ProcfileError(`Procfile is ${formatBytes(size)}; at most ${formatBytes(MAX_PROCFILE_BYTES)} is allowed: put long commands in scripts and run those`, 0);
  }
  // Editors on Windows save a BOM; Heroku ignores it, so must we or the first type is `\uFEFFweb`.
  const lines = text.replace(/^\uFEFF/, '').split(/\r\n|\r|\n/);
  const types: Record<string, string> = {};
  const definedOn = new Map<string, number>();
  lines.forEach((raw, index) => {
    const line = index + 1;
    const content = raw.trim();
    if (content === '' || content.startsWith('#')) return;
    // Split at the first colon only: commands often contain more (`-b 0.0.0.0:$PORT`).
    const colon = content.indexOf(':');
    const type = colon < 0 ? '' : content.slice(0, colon).trim();
    const command = colon < 0 ? '' : content.slice(colon + 1).trim();
    if (colon < 0 || type === '') {
      throw new ProcfileError(`Procfile line ${line}: expected \`type: command\`, got \`${excerpt(content)}\``, line);
    }
    if (!isProcessType(type)) {
      throw new ProcfileError(
        `Procfile line ${line}: invalid process type \`${excerpt(type)}\`: use ${PROCESS_TYPE_RULE}`,
        line,
      );
    }
    if (command === '') {
      throw new ProcfileError(`Procfile line ${line}: process type \`${type}\` has no command`, line);
    }
    const commandBytes = Buffer.byteLength(command);
    if (commandBytes > MAX_COMMAND_BYTES) throw new ProcfileError(`Procfile line ${line}: ${commandTooLong(type, commandBytes)}`, line);
    const first = definedOn.get(type);
    if (first !== undefined) {
      throw new ProcfileError(
        `Procfile line ${line}: process type \`${type}\` is already defined on line ${first}`,
        line,
      );
    }
    definedOn.set(type, line);
    // defineProperty, not assignment: a type named `__proto__` must become a key, not a prototype.
    Object.defineProperty(types, type, { value: command, enumerable: true, writable: true, configurable: true });
  });
  if (definedOn.size === 0) throw new ProcfileError('Procfile declares no process types', 0);
  return types;
}

/**
 * Every problem of a Procfile, not only the first: parseProcfile stops at the first bad line, so
 * that line is blanked (line numbers stay) and the text parsed again. `types` are those of the
 * good lines; a problem of the file as a whole (line 0) ends the search.
 */
export function procfileProblems(text: string): { types: Record<string, string>; errors: ProcfileError[] } {
  const lines = text.replace(/^\uFEFF/, '').split(/\r\n|\r|\n/);
  const errors: ProcfileError[] = [];
  for (;;) {
    try {
      return { types: parseProcfile(lines.join('\n')), errors };
    } catch (err) {
      if (!(err instanceof ProcfileError)) throw err;
      if (err.line === 0) {
        if (errors.length === 0) errors.push(err);
        return { types: {}, errors };
      }
      errors.push(err);
      lines[err.line - 1] = '';
    }
  }
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
