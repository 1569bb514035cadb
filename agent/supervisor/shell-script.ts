/** How an instance's command is started: the program itself when that is what the shell would run, else `sh -c`. */
import { accessSync, constants as fsConstants, statSync } from 'node:fs';
import * as path from 'node:path';

// Words of a plain command: no quotes, globs, operators or redirections; `$VAR` and `${VAR}` expand.
const PLAIN_WORD = /^(?:[A-Za-z0-9_.,:/@%+=-]|\$[A-Za-z_][A-Za-z0-9_]*|\$\{[A-Za-z_][A-Za-z0-9_]*\})+$/;
const VARIABLE = /\$(?:([A-Za-z_][A-Za-z0-9_]*)|\{([A-Za-z_][A-Za-z0-9_]*)\})/g;
// What an unquoted expansion would split on (IFS) or glob.
const SPLIT_OR_GLOB = /[ \t\n*?[]/;
// What `exec` would not run the same way: shell builtins and keywords.
const SHELL_WORDS = new Set([
  '.', ':', 'alias', 'bg', 'break', 'cd', 'command', 'continue', 'echo', 'eval', 'exec', 'exit', 'export', 'false', 'fc', 'fg',
  'getopts', 'hash', 'jobs', 'kill', 'local', 'printf', 'pwd', 'read', 'readonly', 'return', 'set', 'shift', 'source',
  'test', 'times', 'trap', 'true', 'type', 'ulimit', 'umask', 'unalias', 'unset', 'wait', 'if', 'then', 'else', 'elif',
  'fi', 'case', 'esac', 'for', 'while', 'until', 'do', 'done', 'in', 'function', 'select', 'time',
]);

/** The words of `command` when it is one plain simple command (see PLAIN_WORD; not a builtin, no VAR=x prefix). */
function plainWords(command: string): string[] | undefined {
  const words = command.trim().split(/[ \t]+/);
  const first = words[0] ?? '';
  if (first === '' || first.includes('=') || first.includes('$') || SHELL_WORDS.has(first)) return undefined;
  return words.every((word) => PLAIN_WORD.test(word)) ? words : undefined;
}

/** Whether `command` is one plain simple command, which the shell would run as one program (plainWords). */
export function isPlainCommand(command: string): boolean {
  return plainWords(command) !== undefined;
}

/**
 * The script `sh -c` gets for `command`. Debian's sh (dash) does not exec the last command of
 * `sh -c`: every instance would be a shell waiting for the program, and every start would pay
 * one more fork and exec (about 1 ms, a fifth of a restart). A plain command (plainWords) gets
 * `exec ` in front: the same program with the same arguments, as one process.
 *
 * Anything else runs under a waiting sh, which a stop's SIGTERM (sent to the whole group) would
 * kill at once: its "killed by SIGTERM" was the instance's exit, whatever the program did with
 * the signal (exit 0 after cleaning up). With `trap 'exit $?' TERM` sh waits for the program and
 * exits with its status; a loop of builtins still ends there. On the command's first line, so
 * sh's messages keep its line numbers; the command's own traps replace it.
 */
export function shellScript(command: string): string {
  return plainWords(command) ? `exec ${command.trim()}` : `trap 'exit $?' TERM; ${command}`;
}

/** A program to start directly: the file to execute, its argv[0] as written, and its arguments. */
export interface DirectCommand {
  file: string;
  argv0: string;
  args: string[];
}

/**
 * What `sh -c 'exec COMMAND'` would execute, found without the shell, or undefined when only the
 * shell can tell: then the command runs through `sh -c` as before. Starting the program itself
 * saves the exec of a shell (about 0.6 ms of every start and restart, docs/stack-notes.md).
 *
 * Only for a plain command (plainWords) whose `$VAR`s all expand to non-empty values without
 * blanks or glob characters (the shell would split or glob those), and whose program is an
 * executable file: looked up on the instance's PATH as the shell does (an empty entry is the
 * working directory), or relative to `cwd` when it has a slash. A missing program goes through
 * the shell, which reports it as it always did ("not found", status 127).
 */
export function directCommand(command: string, env: Readonly<Record<string, string>>, cwd: string): DirectCommand | undefined {
  const words = plainWords(command);
  if (!words) return undefined;
  const expanded: string[] = [];
  for (const word of words) {
    let safe = true;
    const value = word.replace(VARIABLE, (_, bare: string | undefined, braced: string | undefined) => {
      const v = env[(bare ?? braced)!];
      if (v === undefined || v === '' || SPLIT_OR_GLOB.test(v)) safe = false;
      return v ?? '';
    });
    if (!safe) return undefined;
    expanded.push(value);
  }
  const [argv0, ...args] = expanded as [string, ...string[]];
  const file = findProgram(argv0, env.PATH, cwd);
  return file === undefined ? undefined : { file, argv0, args };
}

/**
 * directCommand() remembered across the restarts of one instance (same command, environment
 * object and directory): the PATH is searched again only once the file found last time is no
 * longer an executable file. Saves one stat per PATH entry before the program's on every
 * restart; a program installed meanwhile in an earlier PATH entry is found at the next start
 * of the instance (a deploy, `ps:restart`), not at a crash restart.
 */
export class DirectCommandMemo {
  private last: { command: string; env: Readonly<Record<string, string>>; cwd: string; direct: DirectCommand } | undefined;

  get(command: string, env: Readonly<Record<string, string>>, cwd: string): DirectCommand | undefined {
    const last = this.last;
    if (last && last.command === command && last.env === env && last.cwd === cwd && isExecutableFile(last.direct.file)) return last.direct;
    const direct = directCommand(command, env, cwd);
    this.last = direct && { command, env, cwd, direct };
    return direct;
  }
}

function findProgram(name: string, searchPath: string | undefined, cwd: string): string | undefined {
  if (name.includes('/')) return isExecutableFile(path.resolve(cwd, name)) ? path.resolve(cwd, name) : undefined;
  if (searchPath === undefined) return undefined; // the shell's own default path: let it search
  for (const dir of searchPath.split(':')) {
    const candidate = path.resolve(cwd, dir, name);
    if (isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

// A miss is the common case on a long PATH (every entry before the program's): stat it
// without an exception (a thrown ENOENT costs ~25 µs, 0.2 ms of a restart on a 9-entry PATH).
function isExecutableFile(file: string): boolean {
  try {
    const stat = statSync(file, { throwIfNoEntry: false });
    if (stat === undefined || !stat.isFile()) return false;
    accessSync(file, fsConstants.X_OK);
    return true;
  } catch {
    return false; // ENOTDIR, EACCES…
  }
}
