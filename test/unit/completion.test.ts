/** `cluster completion bash|zsh|fish`: scripts from the real CLI, run in the real shells (scripts/setup.sh installs zsh and fish). */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { CLI } from '../helpers/test-cluster';

const temp = fs.mkdtempSync(path.join(os.tmpdir(), 'completion-test-'));
after(() => fs.rmSync(temp, { recursive: true, force: true }));

function script(shell: string): string {
  const file = path.join(temp, `cluster.${shell}`);
  fs.writeFileSync(file, execFileSync(process.execPath, [CLI, 'completion', shell]));
  return file;
}

/** Fails (never skips) when a shell is missing: the suite's set-up installs them. */
function requireShell(shell: string): void {
  if (spawnSync('sh', ['-c', `command -v ${shell}`]).status !== 0) assert.fail(`${shell} is not installed: run scripts/setup.sh (it installs zsh and fish)`);
}

/**
 * What bash completes for the words (the last is the one being completed), as bash would call the
 * function: the words split at `:` as COMP_WORDBREAKS splits them.
 */
function bashComplete(file: string, line: string, cwd = temp): string[] {
  const program = [
    `source ${JSON.stringify(file)}`,
    // Split as readline does: at blanks, and around each `:` (a word of its own).
    'line=$1; read -ra COMP_WORDS <<< "${line//:/ : }"; [[ $line == *" " ]] && COMP_WORDS+=("")',
    'COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMP_LINE=$line; COMP_POINT=${#line}',
    '_cluster_complete',
    'printf "%s\\n" "${COMPREPLY[@]}"',
  ].join('\n');
  const out = execFileSync('bash', ['-c', program, 'bash', line], { cwd }).toString();
  return out.split('\n').filter(Boolean).sort();
}

/**
 * What zsh completes for the words (the last is the one being completed): the script's own
 * function run by a real zsh, outside the line editor. compadd, _describe and _files (zsh's, which
 * only work inside it) are stood in for: they print the candidates they are given (`@dirs` for
 * directories), and those that start with the word being completed are kept, as zsh would keep them.
 */
function zshComplete(file: string, line: string, cwd = temp): string[] {
  const program = [
    'compdef() { :; }',
    'compadd() { while [[ $1 == -* && $1 != -- ]]; do shift; done; [[ $1 == -- ]] && shift; print -rl -- "$@"; }',
    // `name:description`, a colon in the name escaped (`apps\\:create:…`): the name.
    "_describe() { local e; for e in \"${(@P)${@[-1]}}\"; do e=${e//\\\\:/$'\\x01'}; e=${e%%:*}; print -r -- \"${e//$'\\x01'/:}\"; done; }",
    '_files() { print -r -- @dirs; }',
    `source ${JSON.stringify(file)}`,
    'words=(${(z)1}); [[ $1 == *" " ]] && words+=("")',
    'CURRENT=${#words}',
    '_cluster',
  ].join('\n');
  const res = spawnSync('zsh', ['-f', '-c', program, 'zsh', line], { cwd });
  assert.equal(res.stderr.toString(), '', `zsh complaining about ${JSON.stringify(line)}`);
  const current = line.endsWith(' ') ? '' : line.split(' ').at(-1)!;
  const offered = res.stdout.toString().split('\n').filter(Boolean);
  return offered.filter((word) => word === '@dirs' || word.startsWith(current)).sort();
}

/** The top-level commands `cluster --help` lists. */
function helpCommands(): string[] {
  const help = execFileSync(process.execPath, [CLI, '--help']).toString();
  const section = help.split(/^Commands:$/m)[1]!;
  return [...section.matchAll(/^ {2}(\S+)/gm)].map((m) => m[1]!.split('|')).flat().filter((name) => name !== 'help');
}

describe('cluster completion bash', () => {
  const file = script('bash');

  it('is a valid bash script that registers a completion for cluster', () => {
    execFileSync('bash', ['-n', file]);
    const out = execFileSync('bash', ['-c', `source ${JSON.stringify(file)}; complete -p cluster`]).toString();
    assert.match(out, /complete -F _cluster_complete cluster/);
  });

  it('completes a subcommand', () => {
    assert.deepEqual(bashComplete(file, 'cluster depl'), ['deploy']);
    assert.deepEqual(bashComplete(file, 'cluster agent j'), ['join']);
  });

  it('offers every command the CLI has, read from the program itself', () => {
    const offered = bashComplete(file, 'cluster ');
    assert.ok(offered.includes('completion'));
    assert.deepEqual(offered, [...new Set(helpCommands())].sort());
  });

  it('completes the part after a colon, as bash replaces it', () => {
    assert.deepEqual(bashComplete(file, 'cluster apps:c'), ['create']);
    assert.deepEqual(bashComplete(file, 'cluster apps:'), ['create', 'destroy']);
  });

  it("completes a command's options, with the global ones, after an option's value", () => {
    assert.deepEqual(bashComplete(file, 'cluster deploy -a shop --w'), ['--wait']);
    assert.ok(bashComplete(file, 'cluster ps --').includes('--server'));
    assert.deepEqual(bashComplete(file, 'cluster deploy -a '), []); // an app name: nothing to offer
  });

  it("completes an argument's choices and a directory argument", () => {
    assert.deepEqual(bashComplete(file, 'cluster completion '), ['bash', 'fish', 'zsh']);
    fs.mkdirSync(path.join(temp, 'myapp'), { recursive: true });
    fs.writeFileSync(path.join(temp, 'myfile'), '');
    assert.deepEqual(bashComplete(file, 'cluster deploy my'), ['myapp']);
  });

  it('offers the values of options that take one of a fixed set', () => {
    assert.deepEqual(bashComplete(file, 'cluster logs -a shop -s '), ['app', 'system']);
    assert.deepEqual(bashComplete(file, 'cluster logs --source s'), ['system']);
    assert.deepEqual(bashComplete(file, 'cluster schedule:add --concurrency '), ['allow', 'forbid', 'replace']);
  });

  it('completes each argument at its own position: on|off is the second of agents:web', () => {
    assert.deepEqual(bashComplete(file, 'cluster agents:web '), []); // an agent id
    assert.deepEqual(bashComplete(file, 'cluster agents:web web-1 '), ['off', 'on']);
    assert.deepEqual(bashComplete(file, 'cluster agents:web web-1 of'), ['off']);
    assert.deepEqual(bashComplete(file, 'cluster completion bash '), [], 'completion takes one shell');
  });

  it('still accepts the spellings it does not offer (commander does not check them)', () => {
    const res = spawnSync(process.execPath, [CLI, 'logs', '-a', 'shop', '-s', 'bogus', '--server', '127.0.0.1:1']);
    assert.equal(res.status, 1);
    assert.match(res.stderr.toString(), /--source bogus: give app \(the processes' output\) or system/);
  });

  it('completes nothing after `--` (the command of `run`)', () => {
    assert.deepEqual(bashComplete(file, 'cluster run -a shop -- dep'), []);
  });
});

describe('cluster completion (other shells, and bad input)', () => {
  it('refuses a shell it does not know, naming the choices', () => {
    const res = spawnSync(process.execPath, [CLI, 'completion', 'powershell']);
    assert.equal(res.status, 1);
    assert.match(res.stderr.toString(), /'powershell' is invalid for argument 'shell'\. Allowed choices are bash, zsh, fish/);
  });

  it('prints a zsh script that zsh parses', () => {
    requireShell('zsh');
    const file = script('zsh');
    execFileSync('zsh', ['-n', file]);
  });

  it('completes in zsh past the first word: subcommands, options, option values, arguments', () => {
    requireShell('zsh');
    const file = script('zsh');
    assert.deepEqual(zshComplete(file, 'cluster depl'), ['deploy']);
    assert.deepEqual(zshComplete(file, 'cluster apps:c'), ['apps:create']);
    assert.deepEqual(zshComplete(file, 'cluster agent j'), ['join']);
    assert.deepEqual(zshComplete(file, 'cluster deploy --wa'), ['--wait']);
    assert.deepEqual(zshComplete(file, 'cluster deploy -a shop --wa'), ['--wait']);
    assert.ok(zshComplete(file, 'cluster agent join --').includes('--token'));
    assert.deepEqual(zshComplete(file, 'cluster logs -s a'), ['app']);
    assert.deepEqual(zshComplete(file, 'cluster logs -a shop --source '), ['app', 'system']);
    assert.deepEqual(zshComplete(file, 'cluster agents:web x of'), ['off']);
    assert.deepEqual(zshComplete(file, 'cluster agents:web '), []); // an agent id
    assert.deepEqual(zshComplete(file, 'cluster completion '), ['bash', 'fish', 'zsh']);
    assert.deepEqual(zshComplete(file, 'cluster deploy '), ['@dirs']);
    assert.deepEqual(zshComplete(file, 'cluster run -a shop -- dep'), []);
  });

  it('prints a fish script that fish parses and that completes `depl` to deploy', () => {
    requireShell('fish');
    const file = script('fish');
    execFileSync('fish', ['--no-execute', file]);
    const out = execFileSync('fish', ['-c', `source ${file}; complete -C 'cluster depl'`]).toString();
    assert.match(out, /^deploy\t/m);
  });

  it('gives zsh and fish every command too (checked as text)', () => {
    const zsh = fs.readFileSync(script('zsh'), 'utf8');
    const fish = fs.readFileSync(script('fish'), 'utf8');
    assert.match(zsh, /^#compdef cluster$/m);
    assert.match(zsh, /'apps\\:create:create an app'/);
    assert.match(fish, /complete -c cluster -n "__cluster_at 'cluster' 0" -a 'deploy' -d /);
    assert.match(fish, /complete -c cluster -n "__cluster_at 'cluster agent' 0" -a 'join'/);
    assert.match(fish, /complete -c cluster -n "__cluster_at 'cluster agents:web' 1" -x -a 'on off'/);
    assert.match(fish, /-l 'source' -x -a 'app system'/);
    assert.match(zsh, /'arg\|cluster agents:web 1'\) _cluster_r=\('on' 'off'\)/);
  });
});

describe('help', () => {
  it('refuses `help NAME` of an unknown command as `cluster NAME` is refused, with a suggestion', () => {
    for (const [args, message] of [
      [['help', 'nosuch'], "error: unknown command 'nosuch'\n(run with --help for usage)\n"],
      [['help', 'deplo'], "error: unknown command 'deplo'\n(Did you mean deploy?)\n(run with --help for usage)\n"],
      [['--server', '127.0.0.1:1', 'help', 'nosuch'], "error: unknown command 'nosuch'\n(run with --help for usage)\n"],
    ] as const) {
      const res = spawnSync(process.execPath, [CLI, ...args]);
      assert.equal(res.status, 1, args.join(' '));
      assert.equal(res.stderr.toString(), message, args.join(' '));
      assert.equal(res.stdout.toString(), '');
    }
    // A command's help, an alias's and the whole help are still printed.
    for (const args of [['help', 'deploy'], ['help', 'scale'], ['help', 'agent'], ['help']]) {
      const res = spawnSync(process.execPath, [CLI, ...args]);
      assert.equal(res.status, 0, args.join(' '));
      assert.match(res.stdout.toString(), /^Usage: cluster /);
    }
  });

  it('shows no empty default for a repeatable option (`--label` once read "(default: {})")', () => {
    for (const args of [['agents:token'], ['agent', 'start'], ['agent', 'join'], ['agent', 'install']]) {
      const help = execFileSync(process.execPath, [CLI, ...args, '--help']).toString();
      assert.match(help, /--label <k=v>/, args.join(' '));
      assert.doesNotMatch(help, /default: (\{\}|\[\])/, args.join(' '));
    }
  });
});
