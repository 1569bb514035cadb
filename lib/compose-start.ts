/**
 * The one shell line a compose service becomes, as Docker would start its container: the service's
 * `entrypoint`/`command` or the Dockerfile's ENTRYPOINT and CMD (combined as Docker combines them),
 * run in the directory WORKDIR (or `working_dir`) names inside the deployed directory, with the
 * service's `environment:` as defaults that config vars override. See docs/compose.md.
 */
import * as path from 'node:path';
import { DEFAULT_SHELL, type DockerCommand, type DockerImage } from './dockerfile';

/** One `environment:` entry; a null value means "no default: set it with config:set". */
export interface EnvDefault {
  key: string;
  value: string | null;
}

/** What the service itself says, as shell text (see compose.ts's commandText). */
export interface ServiceStart {
  entrypoint?: string;
  command?: string;
  workingDir?: string;
  environment: EnvDefault[];
}

/** The line to run and where it came from (for doctor); or why there is none (`noCommand`: nothing says what to run). */
export type StartLine = { command: string; source: string; notes: string[] } | { problem: string; noCommand?: boolean };

/** Combines the service and its image (undefined: no Dockerfile read) into one shell line. */
export function startLine(service: ServiceStart, image: DockerImage | undefined, dockerfileName: string): StartLine {
  const notes: string[] = [];
  const run = runPart(service, image, dockerfileName, notes);
  if ('problem' in run) return run;
  const prefix: string[] = [];
  for (const { key, value } of service.environment) {
    // Only when unset: a config var (even an empty one) wins over the compose file's default.
    if (value !== null) prefix.push(`[ "\${${key}+x}" ] || export ${key}=${quoteWord(value)};`);
  }
  const dir = directory(service, image, dockerfileName);
  if ('problem' in dir) return dir;
  if (dir.relative !== '') prefix.push(`cd ${quoteWord(dir.relative.startsWith('-') ? `./${dir.relative}` : dir.relative)} || exit 1;`);
  if (dir.note) notes.push(dir.note);
  const command = prefix.length === 0 ? run.text : `${prefix.join(' ')} ${run.argv ? 'exec ' : ''}${run.text}`;
  return { command, source: run.source, notes };
}

/** The program part: `argv` when it is one argv (so `exec` can replace the shell, as in Docker). */
function runPart(
  service: ServiceStart,
  image: DockerImage | undefined,
  file: string,
  notes: string[],
): { text: string; argv: boolean; source: string } | { problem: string; noCommand: boolean } {
  const run = imageOrServiceRun(service, image, file, notes);
  // An empty `entrypoint`/`command` (`[]`, `''`) may leave nothing to run.
  if ('text' in run && run.text.trim() === '') return { problem: 'has an empty `command` and `entrypoint` (which drop the image\'s CMD and ENTRYPOINT): nothing to run', noCommand: false };
  return run;
}

function imageOrServiceRun(
  service: ServiceStart,
  image: DockerImage | undefined,
  file: string,
  notes: string[],
): { text: string; argv: boolean; source: string } | { problem: string; noCommand: boolean } {
  if (service.entrypoint !== undefined) {
    // Compose's `entrypoint` replaces the image's and drops its CMD.
    return { text: [service.entrypoint, service.command].filter((part) => part !== undefined && part !== '').join(' '), argv: false, source: 'the service' };
  }
  const entrypoint = image?.entrypoint && !('argv' in image.entrypoint && image.entrypoint.argv.length === 0) ? image.entrypoint : undefined;
  const cmd = image?.cmd && !('argv' in image.cmd && image.cmd.argv.length === 0) ? image.cmd : undefined;
  if (entrypoint && 'shell' in entrypoint) {
    const ignored = service.command !== undefined ? 'the service\'s `command`' : cmd ? `CMD on line ${cmd.line}` : undefined;
    if (ignored) notes.push(`${ignored} is not used: the shell form of ENTRYPOINT (${file} line ${entrypoint.line}) takes no arguments, as in Docker`);
    return { text: shellText(entrypoint.shell, image!.shell), argv: false, source: `${file} line ${entrypoint.line}: ENTRYPOINT` };
  }
  if (entrypoint) {
    const head = quoteArgv(entrypoint.argv);
    if (service.command !== undefined) {
      return { text: `${head} ${service.command}`.trim(), argv: false, source: `${file} line ${entrypoint.line}: ENTRYPOINT, and the service's \`command\`` };
    }
    const args = cmd ? ' ' + ('argv' in cmd ? quoteArgv(cmd.argv) : quoteArgv([...image!.shell, cmd.shell])) : '';
    const source = `${file} line ${entrypoint.line}: ENTRYPOINT${cmd ? `, line ${cmd.line}: CMD` : ''}`;
    return { text: head + args, argv: true, source };
  }
  if (service.command !== undefined) return { text: service.command, argv: false, source: 'the service' };
  if (cmd) return { ...commandText(cmd, image!.shell), source: `${file} line ${cmd.line}: CMD` };
  return { problem: image ? `${file} has no CMD or ENTRYPOINT` : `there is no ${file}`, noCommand: true };
}

function commandText(cmd: DockerCommand, shell: string[]): { text: string; argv: boolean } {
  return 'argv' in cmd ? { text: quoteArgv(cmd.argv), argv: true } : { text: shellText(cmd.shell, shell), argv: false };
}

/** Shell form: `sh -c TEXT` is what the agent runs anyway; another SHELL runs as Docker would run it. */
function shellText(text: string, shell: string[]): string {
  return shell.length === DEFAULT_SHELL.length && shell.every((word, i) => word === DEFAULT_SHELL[i]) ? text : quoteArgv([...shell, text]);
}

/**
 * The directory to start in, relative to the deployed directory. The deployed directory is where
 * the Dockerfile copies its build context (`COPY . /app`), else the final WORKDIR.
 */
function directory(service: ServiceStart, image: DockerImage | undefined, file: string): { relative: string; note?: string } | { problem: string } {
  if (!image) return { relative: '' };
  const root = image.contextDir?.dir ?? image.workdir;
  if (service.workingDir !== undefined) {
    const dir = path.posix.resolve(root, service.workingDir);
    const relative = path.posix.relative(root, dir);
    if (relative.startsWith('..')) return { problem: `has a \`working_dir\` (${service.workingDir}) outside the app (${root} in the image)` };
    return { relative, note: relative ? `starts in ${relative}/ (working_dir ${service.workingDir})` : undefined };
  }
  const relative = path.posix.relative(root, image.workdir);
  if (relative.startsWith('..')) {
    const copied = image.contextDir ? `, where ${file} line ${image.contextDir.line} copies the app` : '';
    return { problem: `would start in WORKDIR ${image.workdir} of ${file}, outside ${root}${copied}: the process would not start in the app` };
  }
  return { relative, note: relative ? `starts in ${relative}/ (WORKDIR ${image.workdir})` : undefined };
}

const SAFE_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/;
// Words the shell would treat as syntax in first position, so a program literally named so must be quoted.
const RESERVED = new Set(['!', '{', '}', 'case', 'do', 'done', 'elif', 'else', 'esac', 'fi', 'for', 'if', 'in', 'then', 'until', 'while']);

/** Joins an argv into POSIX shell text that runs exactly that argv (single quotes where needed). */
export function quoteArgv(argv: string[]): string {
  return argv.map((arg, index) => quoteWord(arg, index === 0)).join(' ');
}

/** One word as POSIX shell text; in first position `A=b` and keywords are quoted to stay words. */
export function quoteWord(word: string, first = false): string {
  const safe = word !== '' && SAFE_WORD.test(word) && (!first || (!word.includes('=') && !RESERVED.has(word)));
  return safe ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
