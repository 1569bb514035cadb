/**
 * The app's process types from its directory: a Procfile (or its `--env` variant), else a compose
 * file turned into the equivalent Procfile, since the control plane only knows Procfiles.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { backingServiceWarning, COMPOSE_FILES, ComposeError, firstDeployCount, parseCompose, readComposeServices, type ComposeReadOptions } from '../lib/compose';
import { findProcfile, moreBadLines, parseProcfile, ProcfileError, procfileProblems } from '../lib/procfile';
import { DockerfileError } from '../lib/dockerfile';
import { MAX_COMPOSE_BYTES, MAX_PROCFILE_BYTES, sizeAndLimit } from '../lib/limits';
import { utf8Problem } from '../lib/utf8-text';
import { UserError } from './errors';

/** What deploy sends: the file it came from, Procfile text, and the types that text declares. */
export interface Definition {
  name: string;
  procfileText: string;
  types: Record<string, string>;
  /** Said before deploying, never fatal: backing services left out, a Dockerfile not found … */
  warnings: string[];
  /** A compose file's services, each once or as its `deploy.replicas` say (firstDeployCount): the formation of the app's first deploy. */
  firstFormation?: Record<string, number>;
}

/** The definition file of a directory and what kind it is; `unused` are definition files it shadows. */
export interface LocatedDefinition {
  name: string;
  kind: 'procfile' | 'compose';
  unused: string[];
}

/**
 * Finds the definition file in `dir`: with `env`, `Procfile.<env>` then `Procfile_<env>` and
 * nothing else (a deploy for an environment must not quietly run the default Procfile); without,
 * `Procfile`, else the first of COMPOSE_FILES. Throws UserError naming what is missing.
 */
export function locateDefinition(dir: string, env?: string): LocatedDefinition {
  if (env !== undefined) checkEnvName(env);
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new UserError(`${dir} is not a directory`);
  const files = new Set(fs.readdirSync(dir).filter((file) => isFile(path.join(dir, file))));
  const composeFiles = COMPOSE_FILES.filter((file) => files.has(file));
  if (env !== undefined) {
    const variants = [`Procfile.${env}`, `Procfile_${env}`];
    const name = findProcfile([...files], env);
    if (!name) {
      const present = ['Procfile', ...composeFiles].filter((file) => files.has(file));
      const note = present.length > 0 ? ` (${present.join(' and ')} ${present.length > 1 ? 'are' : 'is'} used only without --env)` : '';
      throw new UserError(
        `no ${variants.join(' or ')} in ${path.resolve(dir)}${note}: add one, or deploy without --env ${env}`,
      );
    }
    return { name, kind: 'procfile', unused: variants.filter((file) => file !== name && files.has(file)) };
  }
  if (files.has('Procfile')) return { name: 'Procfile', kind: 'procfile', unused: composeFiles };
  const [compose, ...others] = composeFiles;
  if (compose) return { name: compose, kind: 'compose', unused: others };
  throw new UserError(
    `no Procfile (or docker-compose.yml) in ${path.resolve(dir)}: add one with a \`type: command\` line per process type`,
  );
}

const ENV_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/**
 * Refuses an `--env` that is no environment name: it only completes `Procfile.NAME` in the app's
 * directory, so `../Procfile` or `a/b` would name no file there (or, `''`, the default Procfile).
 */
export function checkEnvName(env: string): void {
  if (ENV_NAME.test(env)) return;
  throw new UserError(
    `--env ${JSON.stringify(env)}: an environment name is 1–63 letters, digits, dots, dashes and underscores, starting with a letter or digit; it picks Procfile.NAME (or Procfile_NAME) in the deployed directory`,
  );
}

/** Finds and parses the definition file, failing with a UserError that names the file and line or service. */
export function readDefinition(dir: string, env?: string): Definition {
  const found = locateDefinition(dir, env);
  const text = readDefinitionText(dir, found);
  if (found.kind === 'procfile') {
    // Every bad line at once, as doctor lists them: one deploy to learn them all.
    const { types, errors, omitted } = procfileProblems(text);
    if (errors.length > 0) {
      const lines = errors.map((err) => procfileErrorMessage(found.name, err));
      if (omitted > 0) lines.push(`… and ${moreBadLines(omitted)}`);
      throw new UserError(lines.join('\n'));
    }
    return { name: found.name, procfileText: text, types, warnings: [] };
  }
  let types: Record<string, string>;
  const warnings: string[] = [];
  const firstFormation: Record<string, number> = {};
  const opts = composeReadOptions(dir);
  try {
    types = parseCompose(text, found.name, opts);
    for (const service of readComposeServices(text, found.name, opts)) {
      if (service.backing !== undefined) warnings.push(backingServiceWarning(service, found.name));
      const count = firstDeployCount(service);
      if (count !== undefined) Object.defineProperty(firstFormation, service.name, { value: count, enumerable: true });
      warnings.push(...service.warnings);
    }
  } catch (err) {
    if (err instanceof ComposeError) throw new UserError(err.message);
    throw err;
  }
  const procfileText = composeProcfileText(types, found.name);
  try {
    return { name: found.name, procfileText, types: parseProcfile(procfileText), warnings, firstFormation };
  } catch (err) {
    if (err instanceof ProcfileError) throw new UserError(`${found.name}: ${err.message.replace(/^Procfile line \d+: /, '')}`);
    throw err;
  }
}

/** The most of a file that is read, and what to do about a larger one (for the message). */
interface SizeLimit {
  bytes: number;
  hint: string;
}

/**
 * How large a definition file may be (docs/limits.md): a Procfile is stored with every release; a
 * compose file is only read by the CLI, which sends the Procfile it becomes.
 */
function definitionLimit(kind: LocatedDefinition['kind']): SizeLimit {
  if (kind === 'procfile') return { bytes: MAX_PROCFILE_BYTES, hint: 'it is stored with every release: put long commands in scripts and run those' };
  return {
    bytes: MAX_COMPOSE_BYTES,
    hint: 'the CLI reads no larger compose file: put long commands in scripts, and services this app does not run in a compose file of their own',
  };
}

/** The text of the definition file `found` (deploy and doctor read it alike): see readAppText. */
export function readDefinitionText(dir: string, found: LocatedDefinition): string {
  return readAppText(dir, found.name, definitionLimit(found.kind));
}

/**
 * The text of the app's file `name` (a path relative to `dir`). A UserError when it is a link to
 * a file outside `dir`, over `limit`, or not UTF-8 (naming the line where it stops being so).
 */
function readAppText(dir: string, name: string, limit: SizeLimit): string {
  const file = path.join(dir, name);
  const outside = outsideApp(dir, file);
  if (outside) throw new UserError(`${name} ${outside}`);
  const size = fs.statSync(file).size;
  if (size > limit.bytes) {
    const [shown, most] = sizeAndLimit(size, limit.bytes);
    throw new UserError(`${name} is ${shown}; at most ${most} is allowed: ${limit.hint}`);
  }
  const bytes = fs.readFileSync(file);
  const problem = utf8Problem(name, bytes);
  if (problem) throw new UserError(problem);
  return bytes.toString('utf8');
}

/**
 * Why `file` is not the app's own, when it resolves (through links) outside `dir`: the slug packs
 * the link, never its target, so the release would run commands the servers do not have.
 */
function outsideApp(dir: string, file: string): string | undefined {
  const root = fs.realpathSync(dir);
  const real = fs.realpathSync(file);
  const rel = path.relative(root, real);
  if (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel)) return undefined;
  return `links to ${real}, outside the deployed directory ${root}: deploy sends links, not what they point to; copy the file into the directory (a link to a file inside it is fine)`;
}

/** Lets the compose reader open the app's Dockerfiles (paths relative to `dir`, checked by the reader). */
export function composeReadOptions(dir: string): ComposeReadOptions {
  return {
    readFile: (relativePath) => {
      const file = path.join(dir, relativePath);
      if (!isFile(file)) return undefined;
      const outside = outsideApp(dir, file);
      if (outside) throw new DockerfileError(`${relativePath} ${outside}`);
      // At most one byte over the limit: enough for the reader to say it is too large.
      const fd = fs.openSync(file, 'r');
      try {
        const buffer = Buffer.alloc(Math.min(fs.fstatSync(fd).size, MAX_COMPOSE_BYTES + 1));
        const bytes = buffer.subarray(0, fs.readSync(fd, buffer, 0, buffer.length, 0));
        // One over the limit may end inside a character: the reader refuses its size instead.
        const problem = bytes.length <= MAX_COMPOSE_BYTES ? utf8Problem(relativePath, bytes) : undefined;
        if (problem) throw new DockerfileError(problem); // the service that builds with it cannot start
        return bytes.toString('utf8');
      } finally {
        fs.closeSync(fd);
      }
    },
  };
}

/**
 * The Procfile equivalent to a compose file's process types. parseCompose only returns one-line
 * commands and valid type names, so parseProcfile reads this back to the same types.
 */
export function composeProcfileText(types: Record<string, string>, fileName: string): string {
  const lines = Object.entries(types).map(([type, command]) => `${type}: ${command}`);
  return `# From ${fileName}: each service that runs here is a process type.\n${lines.join('\n')}\n`;
}

/** A ProcfileError's message with the file's real name (`Procfile.staging line 3: …`). */
export function procfileErrorMessage(fileName: string, err: ProcfileError): string {
  return err.message.startsWith('Procfile') ? `${fileName}${err.message.slice('Procfile'.length)}` : `${fileName}: ${err.message}`;
}

function isFile(file: string): boolean {
  try {
    return fs.statSync(file).isFile(); // follows symlinks; a dangling one is no file
  } catch {
    return false;
  }
}
