/** cluster logs: merged lines from every host, history then (with --tail) live. */
import type { Command } from 'commander';
import type * as grpc from '@grpc/grpc-js';
import type { LogBatch__Output } from '../../proto/gen/cluster/logs/LogBatch';
import type { LogLine__Output } from '../../proto/gen/cluster/logs/LogLine';
import type { LogsRequest } from '../../proto/gen/cluster/logs/LogsRequest';
import type { ClusterApiClient } from '../../proto/gen/cluster/api/ClusterApi';
import { parseInstanceName } from '../../lib/names';
import { resolveApp } from '../client';
import { appOption, withApi } from '../command-kit';
import { UserError } from '../errors';
import { colorFor, useColor } from '../output/color';

interface LogsOptions {
  app?: string;
  num: string;
  tail?: boolean;
  ps?: string;
  host?: string;
  json?: boolean;
  color: boolean;
}

// Printing is the follower's hot path (a busy app sends hundreds of thousands of lines a
// second): lines come in runs with the same millisecond and the same few names, so their
// formatted forms are reused rather than made again for every line.
let lastTimeMs = NaN;
let lastIso = '';
function isoTime(ms: number): string {
  if (ms !== lastTimeMs) {
    lastIso = new Date(ms).toISOString();
    lastTimeMs = ms;
  }
  return lastIso;
}

const quoted = new Map<string, string>();
/** JSON.stringify(s), remembered for the few names that repeat on every line. */
function quoteName(s: string): string {
  let q = quoted.get(s);
  if (q === undefined) {
    q = JSON.stringify(s);
    if (quoted.size < 10_000) quoted.set(s, q);
  }
  return q;
}

function formatLine(l: LogLine__Output, color: boolean): string {
  const prefix = `${l.app}[${l.instance}]`;
  const painted = color ? colorFor(l.instance, prefix) : prefix;
  return `${isoTime(l.time_ms)} ${painted} ${l.host}: ${l.text}${l.cut ? ' …(continued)' : ''}\n`;
}

/** JSON.stringify({ time, app, instance, host, stream, line[, cut: true] }) and a newline, built directly. */
function jsonLine(l: LogLine__Output): string {
  return (
    `{"time":"${isoTime(l.time_ms)}","app":${quoteName(l.app)},"instance":${quoteName(l.instance)},"host":${quoteName(l.host)}` +
    `,"stream":${quoteName(l.stream)},"line":${JSON.stringify(l.text)}${l.cut ? ',"cut":true}\n' : '}\n'}`
  );
}

export function registerLogs(program: Command): void {
  appOption(program.command('logs'))
    .description('merged log lines from every host: TIMESTAMP APP[INSTANCE] HOST: LINE')
    .option('-n, --num <lines>', 'how many lines of history', '100')
    .option('-t, --tail', 'keep following new lines until Ctrl-C')
    .option('--ps <type or instance>', 'only one process type (worker) or instance (worker.3)')
    .option('--host <agent id>', 'only one host')
    .option('--json', 'one JSON object a line')
    .option('--no-color', 'no colours (also NO_COLOR)')
    .action(async (opts: LogsOptions, cmd: Command) =>
      withApi(cmd, async (api) => {
        const app = resolveApp(opts.app);
        if (!/^\d+$/.test(opts.num)) throw new UserError(`-n ${opts.num}: give a number of lines`);
        let type = '';
        let instance = '';
        if (opts.ps) {
          if (parseInstanceName(opts.ps)) instance = opts.ps;
          else if (/^[A-Za-z0-9_-]+$/.test(opts.ps)) type = opts.ps;
          else throw new UserError(`--ps ${opts.ps}: give a process type (worker) or an instance (worker.3)`);
        }
        await streamLogs(
          api,
          { app, type, instance, host: opts.host ?? '', lines: Number(opts.num), follow: opts.tail === true },
          { json: opts.json === true, color: !opts.json && useColor(opts.color) },
        );
      }),
    );
}

/** Prints the lines of a Logs call until it ends (or Ctrl-C), pacing the server by stdout. */
export async function streamLogs(api: ClusterApiClient, request: LogsRequest, out: { json: boolean; color: boolean }): Promise<void> {
  const call = api.Logs(request);
  const stop = () => call.cancel();
  process.once('SIGINT', stop);
  try {
    await new Promise<void>((resolve, reject) => {
      call.on('data', (batch: LogBatch__Output) => {
        for (const w of batch.warnings) process.stderr.write(`warning: ${w}\n`);
        if (batch.lines.length === 0) return;
        const text = batch.lines.map((l) => (out.json ? jsonLine(l) : formatLine(l, out.color))).join('');
        if (!process.stdout.write(text)) {
          call.pause();
          process.stdout.once('drain', () => call.resume());
        }
      });
      call.on('end', () => resolve());
      call.on('error', (err: grpc.ServiceError) => (err.code === 1 /* CANCELLED: Ctrl-C */ ? resolve() : reject(err)));
    });
  } finally {
    process.off('SIGINT', stop);
  }
}
