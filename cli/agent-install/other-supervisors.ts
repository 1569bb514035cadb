/** How to run the agent where there is no systemd: runit and supervisord, ready to paste. */
import { shellLine } from './unit';

export interface SupervisorHelpOptions {
  node: string;
  cli: string;
  /** What follows `cluster` to join without starting (`agent join … --no-start`); the token shown masked. */
  joinArgs: string[];
  /** What follows `cluster` to run the agent (`agent start …`). */
  startArgs: string[];
  stopTimeoutSeconds: number;
}

/** Steps for a server without systemd: join once, then run `agent start` under a supervisor. */
export function renderSupervisorHelp(opts: SupervisorHelpOptions): string {
  const start = shellLine([opts.node, opts.cli, ...opts.startArgs]);
  return [
    'Run the agent under your supervisor instead. First join once (TOKEN: your join token):',
    '',
    `  ${shellLine([opts.node, opts.cli, ...opts.joinArgs])}`,
    '',
    'then have the supervisor run this in the foreground, restart it whenever it exits, and stop it',
    'with SIGTERM to the agent alone, never to its process group: its instances keep running for the',
    `next agent run to take over (stopped after the hand-over window otherwise); wait up to ${opts.stopTimeoutSeconds} s:`,
    '',
    `  ${start}`,
    '',
    'runit (/etc/sv/cluster-agent/run, then `ln -s /etc/sv/cluster-agent /etc/service/`):',
    '',
    '  #!/bin/sh',
    `  exec ${start} 2>&1`,
    '',
    'supervisord (/etc/supervisor/conf.d/cluster-agent.conf):',
    '',
    '  [program:cluster-agent]',
    `  command=${start}`,
    '  autostart=true',
    '  autorestart=true',
    '  stopsignal=TERM',
    `  stopwaitsecs=${opts.stopTimeoutSeconds}`,
    '  stopasgroup=false',
    '  killasgroup=false',
    '  redirect_stderr=true',
    '',
  ].join('\n');
}
