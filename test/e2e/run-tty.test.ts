/**
 * `cluster run` from a terminal (docs/one-off-terminals.md): util-linux `script` gives the CLI a
 * terminal here, the CLI asks for a pseudo-terminal on the agent. Checks that the remote command
 * sees a tty of the caller's size, follows resizes, gets Ctrl-C and Ctrl-Z as signals, that
 * `--no-tty` and a CLI without a terminal use pipes, and that the terminal is always restored.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CLI, TestCluster } from '../helpers/test-cluster';
import { isGone } from '../helpers/processes';
import { waitFor } from '../helpers/wait-for';

const sh = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`;

/** A shell line running on a terminal (here) that runs `cluster …` with `args`. */
const cluster_ = (args: string[]) => [process.execPath, CLI, ...args].map(sh).join(' ');

/** Runs `line` under `script` (a pty of 37×111), collecting what the terminal shows. */
class Terminal {
  readonly child: ChildProcessWithoutNullStreams;
  output = '';
  readonly exited: Promise<number | null>;

  constructor(line: string, env: NodeJS.ProcessEnv) {
    this.child = spawn('script', ['-qfec', `stty rows 37 cols 111; ${line}`, '/dev/null'], { env: { ...env, SHELL: '/bin/sh' } });
    this.child.stdout.on('data', (d: Buffer) => (this.output += d.toString()));
    this.child.stderr.on('data', (d: Buffer) => (this.output += d.toString()));
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
  }

  /** Keys typed on the terminal. */
  type(keys: string): void {
    this.child.stdin.write(keys);
  }

  /** The CLI's process on the terminal (node running CLI; not the shell that started it). */
  findCli(): number | undefined {
    const walk = (pid: number): number | undefined => {
      let children: number[] = [];
      try {
        children = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'latin1').trim().split(/\s+/).filter(Boolean).map(Number);
      } catch {
        return undefined;
      }
      for (const child of children) {
        try {
          const argv = fs.readFileSync(`/proc/${child}/cmdline`, 'latin1').split('\0');
          if (argv[0] === process.execPath && argv[1] === CLI) return child;
        } catch {
          continue;
        }
        const found = walk(child);
        if (found) return found;
      }
      return undefined;
    };
    return walk(this.child.pid!);
  }

  /** Resizes the terminal (as a window manager would: the foreground job gets SIGWINCH). */
  async resize(rows: number, cols: number): Promise<void> {
    const cli = await waitFor('the CLI on the terminal', () => this.findCli());
    const device = fs.readlinkSync(`/proc/${cli}/fd/0`);
    await new Promise<void>((resolve, reject) =>
      spawn('stty', ['-F', device, 'rows', String(rows), 'cols', String(cols)], { stdio: 'ignore' }).once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`stty exited ${code}`)))),
    );
  }
}

/** Whether `stty -a` output shows a terminal in its usual cooked mode. */
const cooked = (text: string) => /(^|\s)icanon(\s|;|$)/m.test(text) && /(^|\s)echo(\s|;|$)/m.test(text);

describe('cluster run with a terminal', { timeout: 120_000 }, () => {
  let cluster: TestCluster;
  const env = () => ({ ...process.env, CLUSTER_SERVER: cluster.server, CLUSTER_HOME: path.join(cluster.dir, 'home'), TERM: 'xterm-256color' });
  const terminals: Terminal[] = [];
  const terminal = (line: string) => {
    const t = new Terminal(line, env());
    terminals.push(t);
    return t;
  };

  before(async () => {
    cluster = await TestCluster.start({ agents: [{ id: 'host-a' }] });
    await cluster.deployApp('tools', cluster.appDir('tools', { Procfile: 'worker: sleep 100000\n' }));
  });

  after(async () => {
    for (const t of terminals) t.child.kill('SIGKILL');
    await cluster?.stop();
  });

  it('gives the command a terminal of the caller\'s size and TERM', async () => {
    const t = terminal(cluster_(['run', '-a', 'tools', '--', 'tty && stty size && echo "term=$TERM"']));
    assert.equal(await t.exited, 0, t.output);
    // \r\r\n: the remote terminal ends lines with \r\n, and this one (raw, as Node sets it) adds a \r.
    assert.match(t.output, /\/dev\/pts\/\d+\r+\n37 111\r+\nterm=xterm-256color\r+\n/);
  });

  it('uses pipes without a terminal: `tty` fails as before', async () => {
    const res = await cluster.cli(['run', '-a', 'tools', '--', 'tty']);
    assert.equal(res.code, 1, res.stderr);
    assert.equal(res.stdout, 'not a tty\n');
  });

  it('uses pipes with --no-tty on a terminal', async () => {
    const t = terminal(cluster_(['run', '--no-tty', '-a', 'tools', '--', 'tty']));
    assert.equal(await t.exited, 1, t.output);
    assert.match(t.output, /not a tty/);
  });

  it('follows resizes, passes Ctrl-Z and Ctrl-C as signals, and restores the terminal', async () => {
    // A remote program that says what it gets: a new size, SIGTSTP (Ctrl-Z), SIGINT (Ctrl-C). Its
    // messages are split in its source so that the command line the CLI prints does not match them.
    const program = [
      "process.stdout.on('resize', () => console.log('size ' + process.stdout.rows + 'x' + process.stdout.columns));",
      "process.on('SIGTSTP', () => console.log('suspend' + ' key'));",
      "process.on('SIGINT', () => { console.log('interrupt' + ' key'); process.exit(5); });",
      "console.log('ready ' + process.stdout.rows + 'x' + process.stdout.columns); setInterval(() => {}, 1000);",
    ].join(' ');
    // `exec`: the program, not a shell around it, gets the keys' signals and sets the exit status.
    const t = terminal(`${cluster_(['run', '-a', 'tools', '--', 'exec', process.execPath, '-e', program])}; echo "exit=$?"; stty -a`);
    await waitFor('the remote program to start', () => t.output.includes('ready 37x111'), 20_000);
    await t.resize(50, 70);
    await waitFor('the new size on the remote terminal', () => t.output.includes('size 50x70'), 10_000);
    t.type('\x1a');
    await waitFor('Ctrl-Z as SIGTSTP', () => t.output.includes('suspend key'), 10_000);
    t.type('\x03');
    assert.equal(await t.exited, 0, t.output);
    assert.match(t.output, /interrupt key\r+\n/);
    assert.match(t.output, /exit=5/);
    assert.ok(cooked(t.output.slice(t.output.indexOf('exit=5'))), `terminal restored:\n${t.output}`);
  });

  it('restores the terminal when the CLI is terminated, and the remote process stops', async () => {
    const t = terminal(`${cluster_(['run', '-a', 'tools', '--', 'echo "ready $$"; sleep 100000'])}; echo "exit=$?"; stty -a`);
    const pid = Number((await waitFor('the remote process to start', () => /ready (\d+)/.exec(t.output), 20_000))[1]);
    const cli = await waitFor('the CLI on the terminal', () => t.findCli());
    process.kill(cli, 'SIGTERM');
    assert.equal(await t.exited, 0, t.output);
    assert.match(t.output, /exit=143/);
    assert.ok(cooked(t.output.slice(t.output.indexOf('exit=143'))), `terminal restored:\n${t.output}`);
    await waitFor('the remote shell to stop', () => isGone(pid), 15_000);
  });
});
