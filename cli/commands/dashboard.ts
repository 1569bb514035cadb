/** cluster dashboard: a one-use login link to the web dashboard, opened in the browser. */
import { spawn } from 'node:child_process';
import type { Command } from 'commander';
import { callUnary } from '../../lib/grpc-call';
import { printJson, withApi } from '../command-kit';
import { UserError } from '../errors';
import { parseDuration } from './tokens';

/** The command that opens a URL in the desktop's browser, when there is a desktop. */
function opener(): string | undefined {
  if (process.platform === 'darwin') return 'open';
  if (process.platform === 'linux' && (process.env.DISPLAY || process.env.WAYLAND_DISPLAY)) return 'xdg-open';
  return undefined;
}

/** Starts `command url` detached; resolves false when it cannot be started or fails at once. */
function open(command: string, url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn(command, [url], { stdio: 'ignore', detached: true });
    child.once('error', () => resolve(false));
    child.once('exit', (code) => resolve(code === 0));
    // Some openers stay until the browser exits: started is enough.
    setTimeout(() => resolve(true), 2_000).unref();
    child.unref();
  });
}

export function registerDashboard(program: Command): void {
  program
    .command('dashboard')
    .description('open the web dashboard with a login link that works once, for a few minutes')
    .option('--print-url', 'print the link instead of opening a browser')
    .option('--ttl <duration>', 'how long the link works (30s, 5m; at most 15m)', '5m')
    .option('--json', 'print JSON')
    .action(async (opts: { printUrl?: boolean; ttl: string; json?: boolean }, cmd: Command) =>
      withApi(cmd, async (api) => {
        const ttl = parseDuration(opts.ttl);
        if (ttl < 1 || ttl > 15 * 60) throw new UserError(`--ttl ${opts.ttl}: a login link may work from 1 s to 15 minutes`);
        const link = await callUnary(api, 'CreateDashboardLink', { ttl_seconds: ttl });
        const minutes = Math.max(1, Math.round((link.expires_at_ms - Date.now()) / 60_000));
        if (opts.json) return printJson({ url: link.url, expiresAt: new Date(link.expires_at_ms).toISOString(), caHash: link.ca_hash || null });
        const command = opts.printUrl ? undefined : opener();
        const trust = link.ca_hash
          ? `\nThe dashboard's certificate is signed by the cluster CA (${link.ca_hash}); see docs/dashboard.md to trust it.`
          : '';
        if (command && (await open(command, link.url))) {
          console.log(`Opened the dashboard in your browser (the link works once, within ${minutes} min).${trust}`);
          return;
        }
        if (!opts.printUrl) process.stderr.write('No browser to open here: open this link (it works once, within ' + minutes + ' min):\n');
        console.log(link.url);
        if (trust) process.stderr.write(`${trust.trim()}\n`);
      }),
    );
}
