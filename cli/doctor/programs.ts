/**
 * Which programs a Procfile command runs, read the way `sh -c` would closely enough for a warning:
 * quotes, `&&`/`||`/`;`/`|` lists, `VAR=x` prefixes, `exec`, `cd DIR`, `sh -c '…'` and scripts
 * given to an interpreter (`node server.js`). Not a shell: anything unclear is left unchecked.
 */
import * as path from 'node:path';

/** One program a command starts. */
export interface ProgramUse {
  /** As written (`node`, `./bin/web`, `/usr/bin/env`). */
  program: string;
  /** The script an interpreter runs (`server.js` in `node server.js`), as written. */
  script?: string;
  /** Directory the command is in at that point, relative to the app's root; undefined when unknown. */
  cwd: string | undefined;
}

/** What the command starts but cannot be checked before it runs (`$CMD`, `"$(which x)"`). */
export interface DynamicUse {
  dynamic: string;
}

interface Word {
  text: string;
  /** Holds an unquoted or double-quoted `$` or backtick: its value is known only at run time. */
  dynamic: boolean;
}
type Token = Word | { op: string };

const OPERATORS = ['&&', '||', ';;', ';', '|', '&', '(', ')'];
// Words after which the next word is again a command.
const LEADING = new Set(['if', 'then', 'else', 'elif', 'do', 'while', 'until', '!', '{', 'time', 'exec', 'nohup', 'command']);
// Shell syntax and builtins: nothing to find on disk.
const BUILTINS = new Set([
  'cd', '.', 'source', 'export', 'set', 'unset', 'trap', 'ulimit', 'umask', 'wait', 'eval', ':', 'true', 'false',
  'echo', 'printf', 'test', '[', 'read', 'shift', 'exit', 'return', 'fi', 'done', 'esac', '}', 'readonly', 'local',
  'for', 'case', 'function', 'alias', 'type', 'hash', 'getopts', 'break', 'continue', 'kill', 'pwd',
]);
const SHELLS = new Set(['sh', 'bash', 'dash', 'zsh', 'ksh', 'ash']);
const INTERPRETERS = new Set([...SHELLS, 'node', 'nodejs', 'python', 'python2', 'python3', 'ruby', 'perl', 'php', 'bun']);
const SCRIPT_EXTENSIONS = new Set(['.js', '.mjs', '.cjs', '.ts', '.py', '.rb', '.pl', '.php', '.sh', '.bash']);
// Options after which an interpreter runs code or a module, not a script file.
const CODE_OPTIONS = new Set(['-c', '-e', '-m', '-p', '-r', '--eval', '--print', '--require', '-']);

/** The programs `command` starts, in order. */
export function commandPrograms(command: string, depth = 0): Array<ProgramUse | DynamicUse> {
  const uses: Array<ProgramUse | DynamicUse> = [];
  let cwd: string | undefined = '.';
  for (const words of simpleCommands(tokenize(command))) {
    let i = 0;
    for (;;) {
      const word = words[i];
      if (!word) break;
      if (!word.dynamic && /^[A-Za-z_][A-Za-z0-9_]*=/.test(word.text)) i++;
      else if (LEADING.has(word.text)) i++;
      else if (word.text === 'env') {
        i++;
        while (words[i] && (/^[A-Za-z_][A-Za-z0-9_]*=/.test(words[i]!.text) || words[i]!.text.startsWith('-'))) i++;
      } else break;
    }
    const program = words[i];
    if (!program) continue;
    if (program.dynamic) {
      uses.push({ dynamic: program.text });
      continue;
    }
    if (program.text === 'cd') {
      const target = words[i + 1];
      cwd = cwd === undefined || !target || target.dynamic || target.text === '-' || target.text.startsWith('~') || path.posix.isAbsolute(target.text)
        ? undefined
        : path.posix.normalize(path.posix.join(cwd, target.text));
      continue;
    }
    if (BUILTINS.has(program.text)) continue;
    const args = words.slice(i + 1);
    const base = path.posix.basename(program.text);
    if (SHELLS.has(base)) {
      const dashC = args.findIndex((arg) => arg.text === '-c');
      if (dashC >= 0 && args[dashC + 1] && depth < 3) {
        uses.push({ program: program.text, cwd });
        uses.push(...commandPrograms(args[dashC + 1]!.text, depth + 1).map((use) => relocate(use, cwd)));
        continue;
      }
    }
    const script = INTERPRETERS.has(base) ? scriptOf(args, SHELLS.has(base)) : undefined;
    uses.push(script === undefined ? { program: program.text, cwd } : { program: program.text, script, cwd });
  }
  return uses;
}

/** The script file among an interpreter's arguments: the first non-option one (any name for a shell). */
function scriptOf(args: Word[], shell: boolean): string | undefined {
  for (const arg of args) {
    if (CODE_OPTIONS.has(arg.text)) return undefined;
    if (arg.text.startsWith('-')) continue;
    if (arg.dynamic) return undefined;
    return shell || SCRIPT_EXTENSIONS.has(path.posix.extname(arg.text)) ? arg.text : undefined;
  }
  return undefined;
}

// A program found inside `sh -c '…'` runs where the outer command was.
function relocate(use: ProgramUse | DynamicUse, cwd: string | undefined): ProgramUse | DynamicUse {
  if ('dynamic' in use) return use;
  return { ...use, cwd: cwd === undefined || use.cwd === undefined ? undefined : path.posix.join(cwd, use.cwd) };
}

/** Words of each simple command, redirections left out. */
function simpleCommands(tokens: Token[]): Word[][] {
  const commands: Word[][] = [[]];
  let skipTarget = false;
  for (const token of tokens) {
    if ('op' in token) {
      commands.push([]);
      skipTarget = false;
      continue;
    }
    if (skipTarget) {
      skipTarget = false;
      continue;
    }
    if (!token.dynamic && /^\d*[<>]/.test(token.text)) {
      skipTarget = /^\d*[<>]+&?$/.test(token.text); // `> log` names its target in the next word
      continue;
    }
    commands[commands.length - 1]!.push(token);
  }
  return commands.filter((words) => words.length > 0);
}

/** Splits shell text into words (quotes removed) and list operators. */
function tokenize(command: string): Token[] {
  const tokens: Token[] = [];
  let word: Word | undefined;
  const add = (text: string, dynamic = false) => {
    word ??= { text: '', dynamic: false };
    word.text += text;
    word.dynamic ||= dynamic;
  };
  const end = () => {
    if (word) tokens.push(word);
    word = undefined;
  };
  for (let i = 0; i < command.length; i++) {
    const ch = command[i]!;
    if (ch === ' ' || ch === '\t' || ch === '\n') {
      end();
    } else if (ch === '#' && word === undefined) {
      break; // a comment runs to the end of the line; a Procfile command is one line
    } else if (ch === "'") {
      const close = command.indexOf("'", i + 1);
      add(command.slice(i + 1, close < 0 ? undefined : close));
      if (close < 0) break;
      i = close;
      add('');
    } else if (ch === '"') {
      add('');
      for (i++; i < command.length && command[i] !== '"'; i++) {
        if (command[i] === '\\' && '\\"$`'.includes(command[i + 1] ?? '')) add(command[++i]!);
        else add(command[i]!, command[i] === '$' || command[i] === '`');
      }
    } else if (ch === '\\') {
      add(command[++i] ?? '');
    } else if ((ch === '$' && command[i + 1] === '(') || ch === '`') {
      // Command substitution: skipped whole, or its `(`, `;` and `|` would look like list operators.
      const close = ch === '`' ? command.indexOf('`', i + 1) : matchingParen(command, i + 1);
      add(command.slice(i, close < 0 ? undefined : close + 1), true);
      if (close < 0) break;
      i = close;
    } else if (ch === '$') {
      add(ch, true);
    } else if (ch === '<' || ch === '>') {
      if (word && !/^\d+$/.test(word.text)) end(); // `cmd>out`: the redirection is a word of its own
      add(ch);
      while ('<>&|'.includes(command[i + 1] ?? 'x')) add(command[++i]!); // `2>&1`, `>>`, `>|`
    } else {
      const op = OPERATORS.find((candidate) => command.startsWith(candidate, i));
      if (op) {
        end();
        tokens.push({ op });
        i += op.length - 1;
      } else {
        add(ch);
      }
    }
  }
  end();
  return tokens;
}

/** Index of the `)` closing the `(` at `open`, or -1. */
function matchingParen(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === '(') depth++;
    else if (text[i] === ')' && --depth === 0) return i;
  }
  return -1;
}
