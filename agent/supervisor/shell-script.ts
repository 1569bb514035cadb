/** What `sh -c` is given for an instance's command. */

// Words of a plain command: no quotes, globs, operators or redirections; `$VAR` and `${VAR}` expand.
const PLAIN_WORD = /^(?:[A-Za-z0-9_.,:/@%+=-]|\$[A-Za-z_][A-Za-z0-9_]*|\$\{[A-Za-z_][A-Za-z0-9_]*\})+$/;
// What `exec` would not run the same way: shell builtins and keywords.
const SHELL_WORDS = new Set([
  '.', ':', 'alias', 'bg', 'break', 'cd', 'command', 'continue', 'echo', 'eval', 'exec', 'exit', 'export', 'false', 'fc', 'fg',
  'getopts', 'hash', 'jobs', 'kill', 'local', 'printf', 'pwd', 'read', 'readonly', 'return', 'set', 'shift', 'source',
  'test', 'times', 'trap', 'true', 'type', 'ulimit', 'umask', 'unalias', 'unset', 'wait', 'if', 'then', 'else', 'elif',
  'fi', 'case', 'esac', 'for', 'while', 'until', 'do', 'done', 'in', 'function', 'select', 'time',
]);

/**
 * The script `sh -c` gets for `command`. Debian's sh (dash) does not exec the last command of
 * `sh -c`: every instance would be a shell waiting for the program, and every start would pay
 * one more fork and exec (about 1 ms, a fifth of a restart). A command that is one plain simple
 * command (see PLAIN_WORD; not a builtin, no VAR=x prefix) gets `exec ` in front: the same
 * program with the same arguments, as one process. Anything else runs as written.
 */
export function shellScript(command: string): string {
  const words = command.trim().split(/[ \t]+/);
  const first = words[0] ?? '';
  if (first === '' || first.includes('=') || first.includes('$') || SHELL_WORDS.has(first)) return command;
  return words.every((word) => PLAIN_WORD.test(word)) ? `exec ${command.trim()}` : command;
}
