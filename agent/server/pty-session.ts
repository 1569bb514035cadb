/**
 * A one-off process on a pseudo-terminal (`cluster run` from a terminal, like `heroku run bash`),
 * without a native module: util-linux `script` (in Debian's essential bsdutils) opens the pty,
 * runs the command as the session leader on it and copies bytes between the pty and its own
 * stdin/stdout, which are the agent's pipes. The pty's line discipline turns typed Ctrl-C and
 * Ctrl-Z into SIGINT and SIGTSTP for the foreground job. Window sizes are applied with `stty` on
 * the pty: the first by the wrapper before the command starts (so it sees the right size at
 * once), later ones by the agent on the pty device (the kernel then sends SIGWINCH to the
 * foreground job). docs/one-off-terminals.md has the why.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { allPids, procStat } from '../supervisor/proc-stat';
import { signalGroup } from '../supervisor/process-group';

export interface WindowSize {
  rows: number;
  cols: number;
}

/** What a terminal has when the caller sent no usable size. */
export const DEFAULT_WINDOW: WindowSize = { rows: 24, cols: 80 };
const MAX_SIDE = 10_000;

/** The size the caller sent, or the default when it is missing or absurd. */
export function windowOrDefault(window: { rows?: number; cols?: number } | null | undefined): WindowSize {
  const ok = (n: number | undefined): n is number => Number.isInteger(n) && n! >= 1 && n! <= MAX_SIDE;
  return window && ok(window.rows) && ok(window.cols) ? { rows: window.rows, cols: window.cols } : DEFAULT_WINDOW;
}

/** A TERM value we pass on; anything else becomes `xterm`. */
export function termOrDefault(term: string | undefined): string {
  return term && /^[A-Za-z0-9._+-]{1,64}$/.test(term) ? term : 'xterm';
}

/** `text` as one single-quoted sh word. */
function shQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/**
 * The program and arguments that run `command` (through `sh -c`, as without a terminal) on a
 * new pty of `window` size. `script` runs its -c string with $SHELL, so the caller sets
 * SHELL=/bin/sh for it; the wrapper gives the command back the SHELL it would have had.
 */
export function ptyCommand(command: string, window: WindowSize, shell: string | undefined): { file: string; args: string[] } {
  const restoreShell = shell === undefined ? 'unset SHELL' : `SHELL=${shQuote(shell)}; export SHELL`;
  const wrapper = `stty rows ${window.rows} cols ${window.cols} 2>/dev/null; ${restoreShell}; exec /bin/sh -c ${shQuote(command)}`;
  // -q: no banner, -f: flush at once, -e: exit with the command's status (128+n when signalled),
  // -c: the command; the typescript file is thrown away (output goes to the caller and the logs).
  return { file: 'script', args: ['-qfec', wrapper, '/dev/null'] };
}

/** The path of a pts device from its device number (/proc/PID/stat's tty_nr); undefined for others. */
export function ptsPath(ttyNr: number): string | undefined {
  const major = (ttyNr >> 8) & 0xfff;
  const minor = (ttyNr & 0xff) | ((ttyNr >> 12) & 0xfff00);
  // Unix98 pty slaves: majors 136–143.
  if (major < 136 || major > 143) return undefined;
  return `/dev/pts/${(major - 136) * 256 + minor}`;
}

/** The pids whose parent is `pid`. */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'latin1').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    // Kernels without CONFIG_PROC_CHILDREN: look through the process table.
    return (allPids() ?? []).filter((p) => procStat(p)?.ppid === pid);
  }
}

/** The pty of a `script` process: the session its child leads, found through /proc. */
export class PtySession {
  private leader?: number;
  private ttyPath?: string;
  private wanted?: WindowSize;
  private applied?: WindowSize;
  private resizing = false;

  constructor(private readonly scriptPid: number) {}

  /** Applies a new window size (the latest wins when they come faster than stty runs). */
  resize(window: WindowSize): void {
    this.wanted = window;
    this.applyWanted();
  }

  /**
   * Sends `signal` to the terminal's foreground job (what a key would reach), else to the
   * `script` process group (which stops the session).
   */
  signal(signal: NodeJS.Signals): void {
    const leader = this.findLeader();
    const tpgid = leader === undefined ? undefined : procStat(leader)?.tpgid;
    if (tpgid !== undefined && tpgid > 1) signalGroup(tpgid, signal);
    else signalGroup(this.scriptPid, signal);
  }

  private findLeader(): number | undefined {
    if (this.leader !== undefined && procStat(this.leader)?.ppid === this.scriptPid) return this.leader;
    for (const pid of childrenOf(this.scriptPid)) {
      const path = ptsPath(procStat(pid)?.ttyNr ?? 0);
      if (path) {
        this.leader = pid;
        this.ttyPath = path;
        return pid;
      }
    }
    return undefined;
  }

  private applyWanted(attempt = 0): void {
    if (this.resizing || !this.wanted || this.wanted === this.applied) return;
    if (this.findLeader() === undefined || !this.ttyPath) {
      // Just started (the session is not there yet) or over: try a few times, then give up.
      if (attempt < 20) setTimeout(() => this.applyWanted(attempt + 1), 50).unref();
      return;
    }
    const window = this.wanted;
    this.resizing = true;
    // A child process, never the agent itself, opens the pty: it cannot become the agent's terminal.
    const stty = spawn('stty', ['-F', this.ttyPath, 'rows', String(window.rows), 'cols', String(window.cols)], { stdio: 'ignore' });
    const done = () => {
      this.resizing = false;
      this.applied = window;
      this.applyWanted();
    };
    stty.once('error', done);
    stty.once('close', done);
  }
}
