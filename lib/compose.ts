/**
 * docker-compose.yml (version 2 or 3, or the Compose Specification without `version`) read as
 * Convox reads it: each service that `build`s the deployed directory or has a `command` becomes a
 * process type run from the deployed directory; without a `command` the Dockerfile's CMD (and
 * ENTRYPOINT, WORKDIR) says how it starts; `environment:` values become defaults; a service that
 * only names an `image:` (a database, a cache) is a backing service, reported and not run.
 * See docs/compose.md.
 */
import * as path from 'node:path';
import { LineCounter, parseDocument, type Document } from 'yaml';
import { quoteArgv, quoteWord, startLine, type EnvDefault } from './compose-start';
import { DockerfileError, readDockerfile, type DockerImage } from './dockerfile';
import { formatBytes, MAX_COMPOSE_BYTES } from './limits';
import { isProcessType, PROCESS_TYPE_RULE } from './names';

export { quoteArgv };

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

/** One service as read: its command when it can run here, a backing service, or why not. */
export interface ComposeService {
  name: string;
  /** 1-based line of the service's name, 0 when unknown. */
  line: number;
  command?: string;
  error?: ComposeError;
  /** An image-only service (a database, a cache): not run here; the image it names. */
  backing?: string;
  /** Where the command comes from: `the service`, `Dockerfile line 7 (CMD)` … */
  source?: string;
  /** The Dockerfile read for the service, relative to the directory, when it builds one. */
  dockerfile?: string;
  /** `environment:` entries: defaults that config vars override; null values have none. */
  environment: EnvDefault[];
  /** Things doctor shows as information (a CMD not used, the directory it starts in …). */
  notes: string[];
  /** Things worth a warning (a Dockerfile not found for a service with its own command …). */
  warnings: string[];
  /** Keys the service sets that this tool does not use (`ports`, `volumes`, `depends_on` …). */
  ignored: string[];
}

/** The file as a whole: its `version` (and line), and each service. */
export interface ComposeFile {
  version?: { value: string; line: number };
  services: ComposeService[];
}

/** How to read the app directory's other files (Dockerfiles); undefined when a file is missing. */
export interface ComposeReadOptions {
  readFile?: (relativePath: string) => string | undefined;
}

const USED_KEYS = new Set(['command', 'entrypoint', 'build', 'environment']);
// Keys that only ever appear inside a service: a top-level mapping full of them is the v1 format.
const SERVICE_KEYS = new Set(['image', 'build', 'command', 'entrypoint', 'ports', 'environment', 'volumes', 'links']);
// Only strings, mappings, lists and null: `sleep 1.0` and `[sleep, 010]` keep their text, and
// `version: 3.8` stays "3.8" rather than the number 3.8.
const KEEP_TAGS = new Set(['tag:yaml.org,2002:map', 'tag:yaml.org,2002:seq', 'tag:yaml.org,2002:str', 'tag:yaml.org,2002:null']);
const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Parses a compose file into process types → shell commands, in file order; backing services are
 * left out. Throws ComposeError for the file as a whole, for the first service that cannot run
 * here, or when no service runs here at all.
 */
export function parseCompose(text: string, fileName = 'docker-compose.yml', opts: ComposeReadOptions = {}): Record<string, string> {
  const types: Record<string, string> = {};
  const services = readComposeServices(text, fileName, opts);
  for (const service of services) {
    if (service.error) throw service.error;
    if (service.backing !== undefined) continue;
    // defineProperty, not assignment: a service named `__proto__` must become a key.
    Object.defineProperty(types, service.name, { value: service.command, enumerable: true, writable: true, configurable: true });
  }
  if (Object.keys(types).length === 0) {
    throw new ComposeError(
      `${fileName} has only backing services (${services.map((s) => `${s.name}: ${s.backing}`).join(', ')}): add a service that builds the app (\`build: .\`) or has a \`command\``,
    );
  }
  return types;
}

/** The backing services' warnings, one sentence each (deploy prints them; doctor too). */
export function backingServiceWarning(service: ComposeService, fileName: string): string {
  const where = service.line ? `${fileName} line ${service.line}` : fileName;
  return `${where}: service \`${service.name}\` only names an image (${service.backing}): a backing service, not deployed here; run it elsewhere and give the app its address with \`cluster config:set\``;
}

/**
 * Reads every service of a compose file, each with its command or its error (what `cluster doctor`
 * lists one by one). Throws ComposeError only when the file as a whole is unusable.
 */
export function readComposeServices(text: string, fileName = 'docker-compose.yml', opts: ComposeReadOptions = {}): ComposeService[] {
  return readComposeFile(text, fileName, opts).services;
}

/** readComposeServices, with the file's `version`. */
export function readComposeFile(text: string, fileName = 'docker-compose.yml', opts: ComposeReadOptions = {}): ComposeFile {
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
  if (root.version !== undefined && root.version !== null && !isScalar(root.version)) {
    throw new ComposeError(`${fileName} line ${lineOf(['version'])}: \`version\` must be a version number like 3.8`, undefined, lineOf(['version']));
  }
  const version = scalarText(root.version, 'version');
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
  const dockerfiles = new DockerfileCache(opts.readFile);
  return {
    version: version === undefined ? undefined : { value: version, line: lineOf(['version']) },
    services: names.map((name) => readService(fileName, name, services[name], lineOf(['services', name]), dockerfiles)),
  };
}

function readService(fileName: string, name: string, spec: unknown, line: number, dockerfiles: DockerfileCache): ComposeService {
  const where = line ? `${fileName} line ${line}` : fileName;
  const service: ComposeService = { name, line, environment: [], notes: [], warnings: [], ignored: [] };
  const fail = (reason: string): ComposeService => ({
    ...service,
    error: new ComposeError(`${where}: service \`${name}\` ${reason}`, name, line || undefined),
  });
  if (!isProcessType(name)) {
    return fail(`is not a valid process type name: use ${PROCESS_TYPE_RULE}`);
  }
  if (!isMapping(spec)) return fail('must be a mapping with `build: .` or a `command`');
  service.ignored = Object.keys(spec).filter((key) => !USED_KEYS.has(key) && spec[key] !== null && spec[key] !== undefined);
  // `working_dir` is read relative to where the Dockerfile copies the app, so only with one.
  const usesWorkingDir = () => (service.ignored = service.ignored.filter((key) => key !== 'working_dir'));
  if (spec.extends !== undefined && spec.extends !== null) {
    return fail('uses `extends`, which this tool does not follow: write its `command` in the service itself');
  }
  if (isMapping(spec.build) && spec.build.dockerfile !== undefined && spec.build.dockerfile !== null && typeof spec.build.dockerfile !== 'string') {
    return fail('has a `build.dockerfile` that is not a file name');
  }
  let build: ReturnType<typeof buildSpec>;
  try {
    build = buildSpec(spec.build);
  } catch (err) {
    return fail((err as Error).message);
  }
  if (build !== undefined && !/^\.\/?$/.test(build.context)) {
    return fail(
      `builds \`${build.context}\`: only the deployed directory is run (\`build: .\`); deploy that directory on its own or build from \`.\``,
    );
  }
  let command: string | undefined;
  let entrypoint: string | undefined;
  let workingDir: string | undefined;
  try {
    command = commandText(spec.command, 'command');
    entrypoint = commandText(spec.entrypoint, 'entrypoint');
    service.environment = environmentOf(spec.environment);
    workingDir = scalarText(spec.working_dir, 'working_dir');
  } catch (err) {
    return fail((err as Error).message);
  }
  if (build === undefined && command === undefined && entrypoint === undefined) {
    if (typeof spec.image === 'string' || typeof spec.image === 'number') return { ...service, ignored: [], backing: String(spec.image) };
    return fail('has no `command` and builds nothing: add `build: .` (the Dockerfile\'s CMD runs) or a `command`');
  }
  let image: DockerImage | undefined;
  if (build !== undefined) {
    const dockerfile = path.posix.normalize(build.dockerfile);
    if (path.posix.isAbsolute(dockerfile) || dockerfile === '..' || dockerfile.startsWith('../')) {
      return fail(`names the Dockerfile \`${build.dockerfile}\`, outside the deployed directory: keep it inside`);
    }
    service.dockerfile = dockerfile;
    const read = dockerfiles.read(dockerfile, build.target);
    if ('error' in read) return fail(read.error);
    image = read.image;
    if (image) usesWorkingDir();
    else {
      if (command === undefined && entrypoint === undefined) {
        return fail(`has no \`command\` and there is no ${dockerfile} to read its CMD from: add the Dockerfile (with a CMD) or a \`command\``);
      }
      service.warnings.push(`${where}: service \`${name}\` builds \`.\` but there is no ${dockerfile}: its ENTRYPOINT and WORKDIR are not known; it runs its \`command\` from the app's root`);
    }
  }
  const start = startLine({ entrypoint, command, workingDir: image ? workingDir : undefined, environment: service.environment }, image, service.dockerfile ?? 'Dockerfile');
  if ('problem' in start) {
    if (start.noCommand && image) {
      const stage = `${service.dockerfile} line ${image.fromLine}, \`${image.fromText}\``;
      return fail(`has no \`command\`, and ${service.dockerfile} has no CMD or ENTRYPOINT (the image starts at ${stage}): add \`CMD ["program", "arg"]\` to ${service.dockerfile} or a \`command\` to the service`);
    }
    return fail(start.problem);
  }
  if (/[\r\n]/.test(start.command)) {
    return fail('has a command (or environment value) over several lines, which a Procfile line cannot hold: join lines with `&&`, move them into a script, or set the value with `cluster config:set`');
  }
  return { ...service, command: start.command, source: start.source, notes: [...service.notes, ...start.notes] };
}

/** Reads and parses each Dockerfile once; `image` is undefined when the file is missing. */
class DockerfileCache {
  private readonly cache = new Map<string, { image?: DockerImage } | { error: string }>();
  constructor(private readonly readFile: ComposeReadOptions['readFile']) {}

  read(file: string, target: string | undefined): { image?: DockerImage } | { error: string } {
    const key = `${file}\0${target ?? ''}`;
    let found = this.cache.get(key);
    if (!found) {
      found = this.load(file, target);
      this.cache.set(key, found);
    }
    return found;
  }

  private load(file: string, target: string | undefined): { image?: DockerImage } | { error: string } {
    const text = this.readFile?.(file);
    if (text === undefined) return {};
    const size = Buffer.byteLength(text);
    if (size > MAX_COMPOSE_BYTES) return { error: `cannot start: ${file} is over ${formatBytes(MAX_COMPOSE_BYTES)}, the most that is read` };
    try {
      return { image: readDockerfile(text, file, target) };
    } catch (err) {
      if (err instanceof DockerfileError) return { error: `cannot start: ${err.message}` };
      throw err;
    }
  }
}

/** `environment:` as a mapping (`KEY: value`) or a list (`- KEY=value`, `- KEY`). */
function environmentOf(value: unknown): EnvDefault[] {
  if (value === undefined || value === null) return [];
  const entries: EnvDefault[] = [];
  const add = (key: string, raw: unknown) => {
    if (!ENV_KEY.test(key)) throw new Error(`has an \`environment\` key \`${key}\` that is not a variable name: use letters, digits and underscores, not starting with a digit`);
    if (raw !== null && raw !== undefined && typeof raw !== 'string') throw new Error(`has an \`environment\` value for ${key} that is not a string`);
    // `$$` is Compose's escape for `$`; the value is otherwise taken as written.
    entries.push({ key, value: raw === null || raw === undefined ? null : raw.replace(/\$\$/g, '$') });
  };
  if (Array.isArray(value)) {
    for (const item of value) {
      if (typeof item !== 'string') throw new Error('has an `environment` list with an item that is not `KEY=value`');
      const eq = item.indexOf('=');
      if (eq < 0) add(item, null);
      else add(item.slice(0, eq), item.slice(eq + 1));
    }
  } else if (isMapping(value)) {
    for (const [key, raw] of Object.entries(value)) add(key, raw);
  } else {
    throw new Error('has an `environment` that is neither a mapping nor a list of `KEY=value`');
  }
  return entries;
}

/** `build: DIR` or `build: {context, dockerfile, target}`; undefined without `build`. */
function buildSpec(build: unknown): { context: string; dockerfile: string; target?: string } | undefined {
  if (build === undefined || build === null) return undefined;
  if (!isMapping(build)) return { context: scalarText(build, 'build')!, dockerfile: 'Dockerfile' };
  const context = scalarText(build.context, 'build.context') ?? '.';
  const dockerfile = typeof build.dockerfile === 'string' && build.dockerfile.trim() !== '' ? build.dockerfile.trim() : 'Dockerfile';
  const target = scalarText(build.target, 'build.target');
  return { context, dockerfile, target };
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

type Scalar = string | number | boolean | bigint;

function isScalar(value: unknown): value is Scalar {
  return ['string', 'number', 'boolean', 'bigint'].includes(typeof value);
}

/** A single YAML value (`3.8`, `.`, `app`) as text; undefined when absent; a list or mapping is refused. */
function scalarText(value: unknown, key: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (isScalar(value)) return String(value);
  throw new Error(`has a \`${key}\` that is a ${Array.isArray(value) ? 'list' : 'mapping'}, not a single value`);
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
