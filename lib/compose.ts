/**
 * docker-compose.yml (version 2 or 3, or the Compose Specification without `version`) read as a
 * Procfile: each service with a `command` becomes a process type run from the deployed directory.
 */
import { LineCounter, parseDocument, type Document } from 'yaml';

/** The names `docker compose` looks for, in the order this tool prefers them. */
export const COMPOSE_FILES = ['docker-compose.yml', 'docker-compose.yaml', 'compose.yml', 'compose.yaml'];

/** A compose file that cannot become process types; `line` is 1-based when known. */
export class ComposeError extends Error {
  override name = 'ComposeError';
  constructor(
    message: string,
    readonly service?: string,
    readonly line?: number,
  ) {
    super(message);
  }
}

/** One service as read: its command when it can run here, else why not. */
export interface ComposeService {
  name: string;
  /** 1-based line of the service's name, 0 when unknown. */
  line: number;
  command?: string;
  error?: ComposeError;
  /** Keys the service sets that this tool does not use (`environment`, `ports`, `image` …). */
  ignored: string[];
}

const TYPE_NAME = /^[A-Za-z0-9_-]+$/;
const USED_KEYS = new Set(['command', 'entrypoint', 'build']);
// Keys that only ever appear inside a service: a top-level mapping full of them is the v1 format.
const SERVICE_KEYS = new Set(['image', 'build', 'command', 'entrypoint', 'ports', 'environment', 'volumes', 'links']);
// Only strings, mappings, lists and null: `sleep 1.0` and `[sleep, 010]` keep their text, and
// `version: 3.8` stays "3.8" rather than the number 3.8.
const KEEP_TAGS = new Set(['tag:yaml.org,2002:map', 'tag:yaml.org,2002:seq', 'tag:yaml.org,2002:str', 'tag:yaml.org,2002:null']);

/**
 * Parses a compose file into process types → shell commands, in file order. Throws ComposeError
 * for the file as a whole or for the first service that cannot run here.
 */
export function parseCompose(text: string, fileName = 'docker-compose.yml'): Record<string, string> {
  const types: Record<string, string> = {};
  for (const service of readComposeServices(text, fileName)) {
    if (service.error) throw service.error;
    // defineProperty, not assignment: a service named `__proto__` must become a key.
    Object.defineProperty(types, service.name, { value: service.command, enumerable: true, writable: true, configurable: true });
  }
  return types;
}

/**
 * Reads every service of a compose file, each with its command or its error (what `cluster doctor`
 * lists one by one). Throws ComposeError only when the file as a whole is unusable.
 */
export function readComposeServices(text: string, fileName = 'docker-compose.yml'): ComposeService[] {
  const lines = new LineCounter();
  const doc = parseDocument(text.replace(/^\uFEFF/, ''), {
    lineCounter: lines,
    merge: true, // `<<: *defaults` is common in compose files (YAML 1.1 merge keys; compose supports them)
    customTags: (tags) => tags.filter((tag) => typeof tag === 'object' && KEEP_TAGS.has(tag.tag)),
  });
  const yamlError = doc.errors[0];
  if (yamlError) {
    const line = yamlError.linePos?.[0].line;
    const reason = yamlError.message.split(/ at line \d+, column \d+/)[0]!.split('\n')[0];
    throw new ComposeError(`${fileName}${line ? ` line ${line}` : ''}: not valid YAML: ${reason}`, undefined, line);
  }
  const lineOf = (keyPath: unknown[]): number => {
    const node = keyPath.length === 0 ? doc.contents : nodeAt(doc, keyPath);
    const offset = (node as { range?: [number, number, number] } | undefined)?.range?.[0];
    return offset === undefined ? 0 : lines.linePos(offset).line;
  };
  const root: unknown = doc.toJS({ maxAliasCount: 1000 });
  if (root === null || root === undefined) {
    throw new ComposeError(`${fileName} is empty: declare each process as a service with a \`command\` under \`services:\``);
  }
  if (!isMapping(root)) {
    throw new ComposeError(`${fileName} is not a Compose file: expected a mapping with \`services:\``, undefined, lineOf([]) || 1);
  }
  const version = root.version === undefined || root.version === null ? undefined : String(root.version);
  if (version !== undefined && !/^[23](\.\d+)*$/.test(version)) {
    const legacy = /^1(\.\d+)*$/.test(version);
    throw new ComposeError(
      `${fileName} line ${lineOf(['version'])}: version ${version} is not supported: use version 2 or 3${legacy ? ' (services under `services:`)' : ''}`,
      undefined,
      lineOf(['version']),
    );
  }
  if (!('services' in root)) {
    const looksLikeV1 = Object.values(root).some((value) => isMapping(value) && Object.keys(value).some((k) => SERVICE_KEYS.has(k)));
    throw new ComposeError(
      looksLikeV1
        ? `${fileName} uses the legacy version 1 format (services at the top level): use version 2 or 3, with the services under \`services:\``
        : `${fileName} has no \`services:\`: declare each process as a service with a \`command\``,
    );
  }
  const services = root.services;
  if (!isMapping(services)) {
    const line = lineOf(['services']);
    throw new ComposeError(`${fileName} line ${line}: \`services\` must map service names to services`, undefined, line);
  }
  const names = Object.keys(services);
  if (names.length === 0) {
    const line = lineOf(['services']);
    throw new ComposeError(`${fileName} line ${line}: \`services\` is empty: declare each process as a service with a \`command\``, undefined, line);
  }
  return names.map((name) => readService(fileName, name, services[name], lineOf(['services', name])));
}

function readService(fileName: string, name: string, spec: unknown, line: number): ComposeService {
  const where = line ? `${fileName} line ${line}` : fileName;
  const fail = (reason: string, ignored: string[] = []): ComposeService => ({
    name,
    line,
    ignored,
    error: new ComposeError(`${where}: service \`${name}\` ${reason}`, name, line || undefined),
  });
  if (!TYPE_NAME.test(name)) {
    return fail('is not a valid process type name: use letters, digits, `_` and `-`');
  }
  if (!isMapping(spec)) return fail('must be a mapping with a `command`');
  const ignored = Object.keys(spec).filter((key) => !USED_KEYS.has(key) && spec[key] !== null && spec[key] !== undefined);
  if (spec.extends !== undefined && spec.extends !== null) {
    return fail('uses `extends`, which this tool does not follow: write its `command` in the service itself', ignored);
  }
  const context = buildContext(spec.build);
  if (context !== undefined && !/^\.\/?$/.test(context)) {
    return fail(
      `builds \`${context}\`: only the deployed directory is run (\`build: .\`); deploy that directory on its own or build from \`.\``,
      ignored,
    );
  }
  let command: string | undefined;
  let entrypoint: string | undefined;
  try {
    command = commandText(spec.command, 'command');
    entrypoint = commandText(spec.entrypoint, 'entrypoint');
  } catch (err) {
    return fail((err as Error).message, ignored);
  }
  if (command === undefined && entrypoint === undefined) {
    if (context !== undefined) return fail('has no `command` to run: add one (the Dockerfile\'s CMD is not read)', ignored);
    if (typeof spec.image === 'string' || typeof spec.image === 'number') {
      return fail(
        `only names an image (${spec.image}): images are not run by this tool; run it elsewhere or give it a \`command\``,
        ignored,
      );
    }
    return fail('has no `command`: add one', ignored);
  }
  const full = [entrypoint, command].filter((part) => part !== undefined).join(' ');
  if (/[\r\n]/.test(full)) {
    return fail('has a command over several lines, which a Procfile line cannot hold: join them with `&&` or move them into a script', ignored);
  }
  return { name, line, command: full, ignored };
}

/** The build context of `build: DIR` or `build: {context: DIR}`; undefined without `build`. */
function buildContext(build: unknown): string | undefined {
  if (build === undefined || build === null) return undefined;
  if (typeof build === 'string') return build;
  if (isMapping(build)) return build.context === undefined || build.context === null ? '.' : String(build.context);
  return String(build);
}

/**
 * `command`/`entrypoint` as shell text: a string as written, a list quoted so `sh -c` runs that
 * argv. Either way `$$` (Compose's escape) stays a literal `$`, and `$VAR`/`${VAR:-x}` are left for
 * the shell to expand from the app's config at run time, as Compose expands them when it starts a
 * container. Undefined when absent or empty (Compose's way of saying "none").
 */
function commandText(value: unknown, key: string): string | undefined {
  if (value === undefined || value === null) return undefined;
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
function unescapeDollars(text: string): string {
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
function quoteComposeWord(arg: string, first: boolean): string {
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

const SAFE_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/;
// Words the shell would treat as syntax in first position, so a program literally named so must be quoted.
const RESERVED = new Set(['!', '{', '}', 'case', 'do', 'done', 'elif', 'else', 'esac', 'fi', 'for', 'if', 'in', 'then', 'until', 'while']);

/** Joins an argv into POSIX shell text that runs exactly that argv (single quotes where needed). */
export function quoteArgv(argv: string[]): string {
  return argv.map((arg, index) => quoteWord(arg, index === 0)).join(' ');
}

function quoteWord(word: string, first: boolean): string {
  // In first position `A=b` is an assignment and a keyword is syntax: quote them to keep them words.
  const safe = SAFE_WORD.test(word) && (!first || (!word.includes('=') && !RESERVED.has(word)));
  return safe ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function nodeAt(doc: Document, keyPath: unknown[]): unknown {
  // The key's node, not the value's: a service's line is where its name is written.
  const parent = keyPath.length === 1 ? doc.contents : doc.getIn(keyPath.slice(0, -1), true);
  const items = (parent as { items?: Array<{ key?: { value?: unknown; range?: unknown } }> } | null)?.items;
  return items?.find((pair) => pair.key?.value === keyPath[keyPath.length - 1])?.key;
}
