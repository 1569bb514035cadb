/**
 * What `cluster doctor` checks in an app directory, as plain results: the definition file, each
 * process type, each command's programs, `.env`, and whether there is a `web` type.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { backingServiceWarning, ComposeError, firstDeployCount, readComposeFile, type ComposeFile } from '../../lib/compose';
import { dotenvProblems } from '../../lib/dotenv';
import { configKeyProblem } from '../../lib/names';
import { utf8Problem } from '../../lib/utf8-text';
import { moreBadLines, procfileProblems } from '../../lib/procfile';
import { composeProcfileText, composeReadOptions, locateDefinition, readDefinitionText, procfileErrorMessage, type LocatedDefinition } from '../definition';
import { UserError } from '../errors';
import { commandPrograms, type DynamicUse, type ProgramUse } from './programs';
import { describeTypes, RELEASE_PHASE_TYPE } from '../../lib/release-phase';

/** `fail` makes doctor exit 1; `warn` and `info` do not. */
export type CheckStatus = 'ok' | 'fail' | 'warn' | 'info';

/** One line of doctor's report. */
export interface CheckResult {
  status: CheckStatus;
  message: string;
}

const SYMBOLS: Record<CheckStatus, string> = { ok: '✓', fail: '✗', warn: '!', info: '·' };

/** The line doctor prints for a result. */
export function formatCheck(result: CheckResult): string {
  return `${SYMBOLS[result.status]} ${result.message}`;
}

/** Every check on `dir`, in report order. `pathEnv` is the PATH programs are looked up on. */
export function runChecks(dir: string, opts: { env?: string; pathEnv?: string } = {}): CheckResult[] {
  const results: CheckResult[] = [];
  const found = checkDefinitionFile(dir, opts.env);
  results.push(...found.results);
  const text = found.definition && definitionText(dir, found.definition, results);
  if (found.definition && text !== undefined) {
    const parsed = found.definition.kind === 'procfile' ? checkProcfile(found.definition.name, text) : checkCompose(found.definition.name, text, dir);
    results.push(...parsed.results);
    for (const [type, command] of Object.entries(parsed.types)) results.push(...checkPrograms(dir, type, command, opts.pathEnv ?? ''));
    if (parsed.parsed) results.push(checkWeb(parsed.types));
  }
  if (fs.existsSync(dir) && fs.statSync(dir).isDirectory()) results.push(...checkDotenv(dir));
  return results;
}

/** The definition file's text; undefined, with a ✗ in `results`, when deploy would not read it (too large, not UTF-8). */
function definitionText(dir: string, definition: LocatedDefinition, results: CheckResult[]): string | undefined {
  try {
    return readDefinitionText(dir, definition);
  } catch (err) {
    if (!(err instanceof UserError)) throw err;
    results.push({ status: 'fail', message: err.message });
    return undefined;
  }
}

/** Which definition file is used, and which present ones are not. */
export function checkDefinitionFile(dir: string, env?: string): { results: CheckResult[]; definition?: LocatedDefinition } {
  let definition: LocatedDefinition;
  try {
    definition = locateDefinition(dir, env);
  } catch (err) {
    if (err instanceof UserError) return { results: [{ status: 'fail', message: err.message }] };
    throw err;
  }
  const why = env !== undefined ? ` (--env ${env})` : definition.kind === 'compose' ? ' (no Procfile)' : '';
  const results: CheckResult[] = [{ status: 'ok', message: `${definition.name} found in ${path.resolve(dir)}${why}` }];
  for (const unused of definition.unused) results.push({ status: 'info', message: `${unused} is not used: ${definition.name} is` });
  for (const override of ['docker-compose.override.yml', 'docker-compose.override.yaml', 'compose.override.yml', 'compose.override.yaml']) {
    if (definition.kind === 'compose' && fs.existsSync(path.join(dir, override))) {
      results.push({ status: 'info', message: `${override} is not read: only ${definition.name} declares process types` });
    }
  }
  return { results, definition };
}

/**
 * Parses a Procfile, reporting every malformed line (not only the first) and each good type.
 * `parsed` is true when the whole file parses.
 */
export function checkProcfile(name: string, text: string): { results: CheckResult[]; types: Record<string, string>; parsed: boolean } {
  const { types, errors, omitted } = procfileProblems(text);
  const entries = Object.entries(types);
  const results: CheckResult[] = errors.map((err) => ({ status: 'fail', message: procfileErrorMessage(name, err) }));
  if (omitted > 0) results.push({ status: 'fail', message: `${name}: ${moreBadLines(omitted)} not shown` });
  if (errors.length === 0) {
    const count = entries.filter(([t]) => t !== RELEASE_PHASE_TYPE).length;
    results.push({ status: 'ok', message: `${name} parses: ${plural(count, 'process type')} (${describeTypes(entries.map(([t]) => t))})` });
  }
  for (const [type, command] of entries) results.push({ status: 'ok', message: `${whatEntry(type)}: ${excerpt(command)}` });
  return { results, types, parsed: errors.length === 0 };
}

/**
 * A compose file as Convox checks it: valid, its version, the Dockerfiles it builds with, then each
 * service as a process type (and where its command comes from), a backing service, or a refusal.
 * `dir` is where its Dockerfiles are read (none are read without it).
 */
export function checkCompose(
  name: string,
  text: string,
  dir?: string,
): { results: CheckResult[]; types: Record<string, string>; parsed: boolean } {
  let file: ComposeFile;
  try {
    file = readComposeFile(text, name, dir === undefined ? {} : composeReadOptions(dir));
  } catch (err) {
    if (err instanceof ComposeError) return { results: [{ status: 'fail', message: err.message }], types: {}, parsed: false };
    throw err;
  }
  const { services } = file;
  const types: Record<string, string> = {};
  const results: CheckResult[] = [
    { status: 'ok', message: `${name} is valid: ${plural(services.length, 'service')} (${services.map((s) => s.name).join(', ')})` },
    file.version
      ? { status: 'ok', message: `${name} line ${file.version.line}: version ${file.version.value} is supported` }
      : { status: 'ok', message: `${name} has no \`version\`: read as the Compose Specification` },
  ];
  const dockerfiles = new Map<string, string[]>();
  for (const service of services) {
    if (service.dockerfile !== undefined) dockerfiles.set(service.dockerfile, [...(dockerfiles.get(service.dockerfile) ?? []), service.name]);
  }
  for (const [dockerfile, users] of dockerfiles) {
    // A missing one is reported with the services that need it (a failure, or a warning when they have a `command`).
    if (dir !== undefined && isFile(path.join(dir, dockerfile))) results.push({ status: 'ok', message: `${dockerfile} found (built by ${users.join(', ')})` });
  }
  for (const service of services) {
    if (service.error) {
      results.push({ status: 'fail', message: service.error.message });
      continue;
    }
    if (service.backing !== undefined) {
      results.push({ status: 'warn', message: backingServiceWarning(service, name) });
      continue;
    }
    Object.defineProperty(types, service.name, { value: service.command, enumerable: true, writable: true, configurable: true });
    const from = service.source && service.source !== 'the service' ? `; ${service.source}` : '';
    results.push({ status: 'ok', message: `${whatEntry(service.name)} (service on line ${service.line}${from}): ${excerpt(service.command!)}` });
    results.push(...service.warnings.map((message): CheckResult => ({ status: 'warn', message })));
    results.push(...service.notes.map((note): CheckResult => ({ status: 'info', message: `service ${service.name}: ${note}` })));
    const defaults = service.environment.filter((entry) => entry.value !== null).map((entry) => entry.key);
    const required = service.environment.filter((entry) => entry.value === null).map((entry) => entry.key);
    if (defaults.length > 0) {
      results.push({ status: 'info', message: `service ${service.name}: environment ${excerpt(defaults.join(', '))} ${defaults.length === 1 ? 'is a default' : 'are defaults'}; a config var of the same name overrides it` });
    }
    if (required.length > 0) {
      results.push({ status: 'info', message: `service ${service.name}: environment ${excerpt(required.join(', '))} ${required.length === 1 ? 'has' : 'have'} no value here: set ${required.length === 1 ? 'it' : 'them'} with \`cluster config:set\`` });
    }
    if (service.ignored.length > 0) {
      results.push({
        status: 'info',
        message: `service ${service.name}: ${service.ignored.join(', ')} not used here (config comes from \`cluster config:set\`, the port from $PORT)`,
      });
    }
    const count = firstDeployCount(service);
    if (count !== undefined) {
      const why = service.replicas === undefined ? 'once, as `docker compose up` starts it' : 'its replicas';
      results.push({
        status: 'info',
        message: `service ${service.name}: ${service.name}=${count} on the app's first deploy (${why}); after that, \`cluster ps:scale ${service.name}=N\` sets it`,
      });
    }
  }
  const parsed = services.every((service) => !service.error);
  if (parsed && Object.keys(types).length === 0) {
    results.push({ status: 'fail', message: `${name} has only backing services: add a service that builds the app (\`build: .\`) or has a \`command\`` });
  }
  // Deploy sends these commands as Procfile lines, and the control plane checks their size: so does doctor
  // (`environment:` defaults stand in front of each command and count).
  const sizes = Object.keys(types).length > 0 ? procfileProblems(composeProcfileText(types, name)).errors : [];
  for (const e of sizes) {
    results.push({ status: 'fail', message: `${name}: ${e.message} (its \`environment:\` defaults count: set large values with \`cluster config:set\` instead)` });
  }
  return { results, types, parsed: parsed && Object.keys(types).length > 0 };
}

/** Whether each program a command starts is in the app's directory or on PATH: warnings, never failures. */
export function checkPrograms(dir: string, type: string, command: string, pathEnv: string): CheckResult[] {
  return commandPrograms(command).map((use) => checkProgram(dir, type, use, pathEnv));
}

function checkProgram(dir: string, type: string, use: ProgramUse | DynamicUse, pathEnv: string): CheckResult {
  if ('dynamic' in use) return { status: 'info', message: `${type}: \`${use.dynamic}\` is known only at run time; not checked` };
  const { program, script, cwd } = use;
  if (program.includes('/')) {
    const where = located(dir, cwd, program);
    if (!where) return { status: 'info', message: `${type}: \`${program}\` is relative to a directory only known at run time; not checked` };
    const problem = fileProblem(where.file, true);
    if (problem) return { status: 'warn', message: `${type}: \`${program}\` ${problem(where.inApp ? 'in the directory' : 'on this machine')}` };
    return scriptResult(dir, type, use, `\`${program}\` found${where.inApp ? ' in the directory' : ''}`);
  }
  const onPath = pathEnv
    .split(path.delimiter)
    .filter(Boolean)
    .map((entry) => path.join(entry, program))
    .find((file) => !fileProblem(file, true));
  if (onPath) return scriptResult(dir, type, use, `\`${program}\` found on PATH (${onPath})`);
  if (script === undefined && cwd !== undefined && !fileProblem(path.join(dir, cwd, program), false)) {
    return {
      status: 'warn',
      message: `${type}: \`${program}\` is in the directory, but the shell looks for it on PATH: write \`./${program}\``,
    };
  }
  return { status: 'warn', message: `${type}: \`${program}\` not found in the directory or on this machine's PATH: the servers that run ${type} need it` };
}

/** The check on an interpreter's script, once the interpreter itself is found. */
function scriptResult(dir: string, type: string, use: ProgramUse, programFound: string): CheckResult {
  if (use.script === undefined) return { status: 'ok', message: `${type}: ${programFound}` };
  const where = located(dir, use.cwd, use.script);
  if (!where) return { status: 'ok', message: `${type}: ${programFound}; script \`${use.script}\` not checked (directory known only at run time)` };
  const problem = fileProblem(where.file, false);
  if (problem) return { status: 'warn', message: `${type}: ${programFound}, but its script \`${use.script}\` ${problem(where.inApp ? 'in the directory' : 'on this machine')}` };
  return { status: 'ok', message: `${type}: ${programFound}, and its script \`${use.script}\`` };
}

function located(dir: string, cwd: string | undefined, file: string): { file: string; inApp: boolean } | undefined {
  if (path.posix.isAbsolute(file)) return { file, inApp: false };
  return cwd === undefined ? undefined : { file: path.join(dir, cwd, file), inApp: true };
}

/** Why `file` cannot be run (or read, for a script) said of a place, or undefined when it can. */
function fileProblem(file: string, executable: boolean): ((where: string) => string) | undefined {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch {
    return (where) => `is not found ${where}`;
  }
  if (!stat.isFile()) return (where) => `${where} is not a file`;
  if (!executable) return undefined;
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return undefined;
  } catch {
    return (where) => `${where} is not executable: run \`chmod +x ${path.basename(file)}\``;
  }
}

/** `.env`, when present: it parses, how many variables (never their values), keys worth a warning. */
export function checkDotenv(dir: string): CheckResult[] {
  const file = path.join(dir, '.env');
  if (!fs.existsSync(file)) return [{ status: 'info', message: 'no .env' }];
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (err) {
    return [{ status: 'fail', message: `.env cannot be read: ${(err as Error).message}` }];
  }
  const notUtf8 = utf8Problem('.env', bytes);
  if (notUtf8) return [{ status: 'fail', message: notUtf8 }];
  // Every bad line, as for a Procfile: fixing one at a time and running doctor again is tedious.
  const { entries, errors, omitted } = dotenvProblems(bytes.toString('utf8'));
  if (errors.length > 0) {
    const results: CheckResult[] = errors.map((err) => ({ status: 'fail', message: err.message }));
    if (omitted > 0) results.push({ status: 'fail', message: `.env: ${moreBadLines(omitted)} not shown` });
    return results;
  }
  const keys = [...new Set(entries.map((entry) => entry.key))];
  const results: CheckResult[] = [
    { status: 'ok', message: `.env parses: ${plural(keys.length, 'variable')}${keys.length ? ` (${excerpt(keys.join(', '))})` : ''}` },
  ];
  const firstLine = new Map<string, number>();
  for (const { key, line } of entries) {
    const problem = configKeyProblem(key);
    if (problem) results.push({ status: 'warn', message: `.env line ${line}: ${problem}` });
    const first = firstLine.get(key);
    if (first !== undefined) results.push({ status: 'warn', message: `.env line ${line}: ${key} is set again (first on line ${first}); the later value wins` });
    else firstLine.set(key, line);
  }
  return results;
}

/** "process type worker", or "release command" for the release phase's entry. */
function whatEntry(type: string): string {
  return type === RELEASE_PHASE_TYPE ? 'release command' : `process type ${type}`;
}

/** Whether there is a `web` process type: information only, plenty of apps have none. */
export function checkWeb(types: Record<string, string>): CheckResult {
  return Object.hasOwn(types, 'web')
    ? { status: 'info', message: 'process type web is present' }
    : { status: 'info', message: 'no process type web (fine for an app that serves no HTTP)' };
}

function isFile(file: string): boolean {
  try {
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

function excerpt(text: string): string {
  return text.length > 100 ? `${text.slice(0, 99)}…` : text;
}
