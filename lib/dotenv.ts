/** `.env` files as Foreman, `heroku local` and docker compose read them: `KEY=value` a line. */

/** A malformed `.env`; `line` is 1-based. */
export class DotenvError extends Error {
  override name = 'DotenvError';
  constructor(
    message: string,
    readonly line: number,
  ) {
    super(message);
  }
}

/** One assignment, with the line it starts on. */
export interface DotenvEntry {
  key: string;
  value: string;
  line: number;
}

const KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
const ESCAPES: Record<string, string> = { n: '\n', r: '\r', t: '\t', '"': '"', '\\': '\\', $: '$' };

/**
 * Parses `.env` text into assignments in file order. Accepts `KEY=value`, `export KEY=value`,
 * spaces around `=`, `#` comment lines, ` # comments` after a value, blank lines, CRLF, a BOM,
 * 'single' (literal) and "double" quoted values (with \n, \t, \" and \\ escapes), which may span
 * lines. Variables are not expanded. Throws the first DotenvError, naming the line.
 */
export function parseDotenvEntries(text: string): DotenvEntry[] {
  const { entries, errors } = dotenvProblems(text);
  if (errors.length > 0) throw errors[0]!;
  return entries;
}

/** At most this many bad lines are named: a binary file saved as `.env` must not print thousands. */
export const MAX_DOTENV_PROBLEMS = 20;

/**
 * Every problem of a `.env`, not only the first: the first MAX_DOTENV_PROBLEMS bad lines
 * (`omitted` counts the rest), and the good assignments. A bad line is skipped, with the quoted
 * value it starts; a quoted value never closed takes the rest of the file.
 */
export function dotenvProblems(text: string): { entries: DotenvEntry[]; errors: DotenvError[]; omitted: number } {
  const lines = text.replace(/^\uFEFF/, '').split(/\r\n|\r|\n/);
  const entries: DotenvEntry[] = [];
  const errors: DotenvError[] = [];
  let omitted = 0;
  const report = (message: string, line: number) => {
    if (errors.length < MAX_DOTENV_PROBLEMS) errors.push(new DotenvError(`.env line ${line}: ${message}`, line));
    else omitted++;
  };
  for (let index = 0; index < lines.length; index++) {
    const line = index + 1;
    // Left-trimmed only: trailing spaces can belong to a quoted value that goes on below.
    const content = lines[index]!.replace(/^\s+/, '');
    if (content.trim() === '' || content.startsWith('#')) continue;
    const match = /^(?:export[ \t]+)?([^=]*?)[ \t]*=(.*)$/.exec(content);
    if (!match || match[1] === '') {
      report(`expected \`KEY=value\`, got \`${excerpt(content.trim())}\``, line);
      continue;
    }
    const key = match[1]!;
    // A bad key is reported, and its value read all the same: a quoted one may go on below.
    const badKey = !KEY.test(key);
    if (badKey) report(`invalid key \`${excerpt(key)}\`: use letters, digits and underscores, not starting with a digit`, line);
    const raw = match[2]!;
    const rest = raw.replace(/^[ \t]+/, '');
    const quote = rest[0];
    if (quote === '"' || quote === "'") {
      // A quoted value may go on over the following lines until its closing quote.
      let source = rest.slice(1);
      let end = closingQuote(source, quote);
      while (end < 0 && index + 1 < lines.length) {
        index++;
        source += `\n${lines[index]}`;
        end = closingQuote(source, quote);
      }
      const kind = quote === '"' ? 'double' : 'single';
      if (end < 0) {
        report(`the ${kind}-quoted value of ${excerpt(key)} is never closed`, line);
        break;
      }
      const after = source.slice(end + 1).trim();
      if (after !== '' && !after.startsWith('#')) {
        report(`unexpected \`${excerpt(after)}\` after the ${kind}-quoted value of ${excerpt(key)}: put a comment after \` #\``, index + 1);
        continue;
      }
      const body = source.slice(0, end);
      const value = quote === "'" ? body : body.replace(/\\(.)/gs, (all, ch: string) => ESCAPES[ch] ?? all);
      if (!badKey) entries.push({ key, value, line });
    } else if (!badKey) {
      // A comment needs a space before its `#` so values like `COLOR=#fff` and `a#b` stay whole.
      entries.push({ key, value: raw.replace(/[ \t]#.*$/, '').trim(), line });
    }
  }
  return { entries, errors, omitted };
}

/** Parses `.env` text into KEY → value (a later assignment of a key wins). Throws DotenvError. */
export function parseDotenv(text: string): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const { key, value } of parseDotenvEntries(text)) {
    Object.defineProperty(vars, key, { value, enumerable: true, writable: true, configurable: true });
  }
  return vars;
}

/** Index of the quote that closes a value (skipping `\"` in double quotes), or -1. */
function closingQuote(source: string, quote: string): number {
  for (let i = 0; i < source.length; i++) {
    if (quote === '"' && source[i] === '\\') i++;
    else if (source[i] === quote) return i;
  }
  return -1;
}

function excerpt(text: string): string {
  return text.length > 60 ? `${text.slice(0, 59)}…` : text;
}
