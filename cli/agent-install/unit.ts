/** The systemd unit that runs the agent on a standalone server (`cluster agent install`). */

export const UNIT_NAME = 'cluster-agent';
export const UNIT_PATH = `/etc/systemd/system/${UNIT_NAME}.service`;

export interface UnitOptions {
  /** Absolute path of the node binary. */
  node: string;
  /** Absolute path of the CLI entry point (dist/cli/main.js). */
  cli: string;
  /** What follows `cluster` on the command line: `agent start --server … --data-dir …`. */
  args: string[];
  /**
   * Seconds systemd gives the agent to stop before it kills what is left: the agent stops its
   * instances itself, each with its grace period, so this must exceed the longest of those.
   */
  stopTimeoutSeconds: number;
}

/**
 * The unit file text. KillMode=process: on stop and restart systemd signals the agent alone and
 * leaves its instances running, so that the next agent run (a restart, an upgrade) takes them
 * over; the default (control-group) would kill every instance of the server with the agent.
 * An agent that does not come back has its instances stopped by its watchdog after the hand-over
 * window, and `cluster agent stop --stop-instances` empties the server on purpose. RestartSec is
 * short so that a crashed agent is back within that window, and StartLimitIntervalSec=0 lifts
 * systemd's start limit (5 starts in 10 s by default): an agent that fails at start for a while
 * (its --listen port taken, no replica reachable with its CA) would otherwise be given up on for
 * good after a second, and its instances stopped by its watchdog.
 */
export function renderUnit(opts: UnitOptions): string {
  const server = valueOf(opts.args, '--server');
  return [
    `# Written by \`cluster agent install\`; \`cluster agent uninstall\` removes it.`,
    '[Unit]',
    `Description=cluster agent: runs this server's app processes${server ? ` for the control plane at ${server}` : ''}`,
    'After=network-online.target',
    'Wants=network-online.target',
    'StartLimitIntervalSec=0',
    '',
    '[Service]',
    'Type=simple',
    `ExecStart=${execLine(opts)}`,
    'Restart=always',
    'RestartSec=200ms',
    'KillMode=process',
    `TimeoutStopSec=${opts.stopTimeoutSeconds}`,
    'LimitNOFILE=65536',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

/** The command line the service runs, quoted for systemd's ExecStart. */
export function execLine(opts: Pick<UnitOptions, 'node' | 'cli' | 'args'>): string {
  return [opts.node, opts.cli, ...opts.args].map(systemdQuote).join(' ');
}

/**
 * One ExecStart word: bare when it is plain, otherwise double-quoted. Either way `%` (specifiers)
 * and `$` (variables) are doubled, so systemd passes the text through unchanged.
 */
export function systemdQuote(word: string): string {
  const escaped = word.replace(/%/g, '%%').replace(/\$/g, '$$$$');
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return escaped;
  return `"${escaped.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** The same command line for a POSIX shell. */
export function shellLine(words: string[]): string {
  return words.map((w) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`)).join(' ');
}

function valueOf(args: string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1] : undefined;
}
