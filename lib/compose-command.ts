/**
 * A compose service's `command`/`entrypoint` (a string or a list) as shell text a Procfile line
 * can hold. See docs/compose.md.
 */
import { quoteWord } from './compose-start';
import { nulByte } from './nul-byte';

/**
 * `command`/`entrypoint` as shell text: a string as written, a list quoted so `sh -c` runs that
 * argv. Either way `$$` (Compose's escape) stays a literal `$`, and `$VAR`/`${VAR:-x}` are left for
 * the shell to expand from the app's config at run time, as Compose expands them when it starts a
 * container. Undefined when absent or empty (Compose's way of saying "none"). Throws an Error whose
 * message continues "service `NAME` …" when the value is neither a string nor a list of strings.
 */
export function commandText(value: unknown, key: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  const nul = nulByte(typeof value === 'string' ? value : Array.isArray(value) ? value.filter((arg) => typeof arg === 'string').join(' ') : '');
  if (nul) throw new Error(`has a \`${key}\` with ${nul}`);
  if (typeof value === 'string') {
    const text = unescapeDollars(value).trim();
    return text === '' ? undefined : text;
  }
  if (Array.isArray(value)) {
    if (value.length === 0) return undefined;
    const words = value.map((arg, index) => {
      if (typeof arg !== 'string') throw new Error(`has a \`${key}\` list whose item ${index + 1} is not a string`);
      return quoteComposeWord(arg, index === 0);
    });
    return words.join(' ');
  }
  throw new Error(`has a \`${key}\` that is neither a string nor a list of strings`);
}

/** `$$` in shell text → a `$` the shell leaves alone: `\$`, or plain `$` inside single quotes. */
export function unescapeDollars(text: string): string {
  let out = '';
  let quote: "'" | '"' | undefined;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '$' && text[i + 1] === '$') {
      out += quote === "'" ? '$' : '\\$';
      i++;
    } else if (ch === '\\' && quote !== "'") {
      out += text.slice(i, i + 2);
      i++;
    } else {
      if (ch === "'" && quote !== '"') quote = quote === "'" ? undefined : "'";
      else if (ch === '"' && quote !== "'") quote = quote === '"' ? undefined : '"';
      out += ch;
    }
  }
  return out;
}

// A Compose variable reference the shell understands the same way inside double quotes.
const VARIABLE = /\$(?:[A-Za-z_][A-Za-z0-9_]*|\{[A-Za-z_][A-Za-z0-9_]*(?::?[-+?][^}"'`\\$]*)?\})/y;

/** One argv word from a Compose list: exact, except for variable references (see commandText). */
export function quoteComposeWord(arg: string, first: boolean): string {
  const parts: Array<{ literal: string } | { variable: string }> = [];
  let literal = '';
  for (let i = 0; i < arg.length; ) {
    if (arg[i] === '$' && arg[i + 1] === '$') {
      literal += '$';
      i += 2;
      continue;
    }
    VARIABLE.lastIndex = i;
    const match = arg[i] === '$' ? VARIABLE.exec(arg) : null;
    if (match) {
      if (literal) parts.push({ literal });
      literal = '';
      parts.push({ variable: match[0] });
      i += match[0].length;
    } else {
      literal += arg[i];
      i++;
    }
  }
  if (parts.length === 0) return quoteWord(literal, first);
  if (literal) parts.push({ literal });
  // Double quotes: the variable expands without being split into words, like Compose's substitution.
  const body = parts.map((part) => ('variable' in part ? part.variable : part.literal.replace(/[\\"`$]/g, '\\$&'))).join('');
  return `"${body}"`;
}
