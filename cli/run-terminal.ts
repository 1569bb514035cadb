/**
 * `cluster run` attached to this terminal (like `heroku run bash`): raw mode while attached, so
 * every key (Ctrl-C and Ctrl-Z included) goes to the remote pseudo-terminal; window size changes
 * follow. The terminal is always given back as it was: on the run's end, on errors, on SIGTERM
 * and SIGHUP, and at exit. docs/one-off-terminals.md.
 */

export interface TerminalSize {
  rows: number;
  cols: number;
}

/** The size of this terminal (the one output goes to), 24×80 when it cannot be told. */
export function terminalSize(): TerminalSize {
  for (const stream of [process.stdout, process.stderr]) {
    if (stream.isTTY) {
      const [cols, rows] = stream.getWindowSize();
      if (cols > 0 && rows > 0) return { rows, cols };
    }
  }
  return { rows: 24, cols: 80 };
}

const RESTORE_SIGNALS: NodeJS.Signals[] = ['SIGTERM', 'SIGHUP'];

/**
 * Puts stdin in raw mode and calls `onResize` when the window changes. `onSignal` runs (after
 * the terminal is restored) when SIGTERM or SIGHUP arrives meanwhile. Returns the undo, which
 * may be called any number of times.
 */
export function attachTerminal(onResize: (size: TerminalSize) => void, onSignal: (signal: NodeJS.Signals) => void): () => void {
  const stdin = process.stdin;
  const wasRaw = stdin.isRaw;
  let attached = true;
  const restore = () => {
    if (!attached) return;
    attached = false;
    process.off('SIGWINCH', resized);
    for (const signal of RESTORE_SIGNALS) process.off(signal, signalled);
    process.off('exit', restore);
    try {
      if (stdin.isTTY) stdin.setRawMode(wasRaw);
    } catch {
      // the terminal is gone (hung up): nothing to give back
    }
  };
  const resized = () => onResize(terminalSize());
  const signalled = (signal: NodeJS.Signals) => {
    restore();
    onSignal(signal);
  };
  stdin.setRawMode(true);
  process.on('SIGWINCH', resized);
  for (const signal of RESTORE_SIGNALS) process.on(signal, signalled);
  process.on('exit', restore);
  return restore;
}
