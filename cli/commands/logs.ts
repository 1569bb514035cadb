/**
 * cluster logs: merged lines from every host, history then (with --tail/--follow) live, printed
 * as Heroku does: `TIMESTAMP app[worker.3]: line` for the process's output and
 * `TIMESTAMP cluster[worker.3]: …` for lifecycle lines (--show-host adds the host).
 */
import type { Command } from 'commander';
import * as grpc from '@grpc/grpc-js';
import type { LogBatch__Output } from '../../proto/gen/cluster/logs/LogBatch';
import type { LogLine__Output } from '../../proto/gen/cluster/logs/LogLine';
import type { LogsRequest } from '../../proto/gen/cluster/logs/LogsRequest';
import type { ClusterApiClient } from '../../proto/gen/cluster/api/ClusterApi';
import { isLogSource, sourceOf } from '../../lib/log-source';
import { eachPacked, type UnpackedLine } from '../../lib/log-packing';
import { isProcessType, parseInstanceName } from '../../lib/names';
import { resolveApp, type ReplicaConnection } from '../client';
import { FollowWarnings, ResumeTries, resumable } from '../follow-resume';
import { FirstAnswer, silentError } from '../first-answer';
import { HostPositions } from '../../lib/host-positions';
import { appOption, optionOffering, withApi } from '../command-kit';
import { UserError } from '../errors';
import { colorFor, useColor } from '../output/color';
import { PackedJsonWriter } from '../output/log-json';

interface LogsOptions {
  app?: string;
  num: string;
  tail?: boolean;
  follow?: boolean;
  ps?: string;
  processType?: string;
  dyno?: string;
  source?: string;
  host?: string;
  showHost?: boolean;
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

/** `app[worker.3]` for output, `cluster[worker.3]` for lifecycle lines (Heroku's `heroku[web.1]`). */
function formatLine(l: LogLine__Output | UnpackedLine, out: { color: boolean; showHost: boolean }): string {
  const prefix = `${l.stream === 'system' ? 'cluster' : 'app'}[${l.instance}]`;
  const painted = out.color ? colorFor(l.instance, prefix) : prefix;
  const host = out.showHost ? ` ${l.host}` : '';
  return `${isoTime(l.time_ms)} ${painted}${host}: ${l.text}${l.cut ? ' …(continued)' : ''}\n`;
}

/** JSON.stringify({ time, app, instance, host, stream, source, line[, cut: true] }) and a newline, built directly. */
function jsonLine(l: LogLine__Output | UnpackedLine): string {
  return (
    `{"time":"${isoTime(l.time_ms)}","app":${quoteName(l.app)},"instance":${quoteName(l.instance)},"host":${quoteName(l.host)}` +
    `,"stream":${quoteName(l.stream)},"source":"${sourceOf(l.stream)}","line":${JSON.stringify(l.text)}${l.cut ? ',"cut":true}\n' : '}\n'}`
  );
}

export function registerLogs(program: Command): void {
  appOption(program.command('logs'))
    .description('merged log lines from every host: TIMESTAMP app[INSTANCE]: LINE (cluster[INSTANCE] for lifecycle lines)')
    .option('-n, --num <lines>', 'how many lines of history, or `all` (streamed from the hosts\' files)', '100')
    .option('-t, --tail', 'keep following new lines until Ctrl-C')
    .option('-f, --follow', 'same as --tail')
    .option('-p, --process-type <type>', 'only one process type (worker)')
    .option('-d, --dyno <instance>', 'only one instance (worker.2, run.7) or process type')
    .option('--ps <type or instance>', 'only one process type (worker) or instance (worker.3)')
    .addOption(optionOffering('-s, --source <source>', 'only `app` lines (the processes\' output) or `system` lines (lifecycle; also `heroku`)', ['app', 'system']))
    .option('--host <agent id>', 'only one host')
    .option('--show-host', 'print the host of each line (TIMESTAMP app[worker.3] HOST: LINE)')
    .option('--json', 'one JSON object a line (with the host)')
    .option('--no-color', 'no colours (also NO_COLOR)')
    .action(async (opts: LogsOptions, cmd: Command) =>
      withApi(cmd, async (api, _server, replicas) => {
        const app = resolveApp(opts.app);
        const all = opts.num === 'all';
        if (!all && (!/^\d+$/.test(opts.num) || Number(opts.num) > 2_000_000_000)) {
          throw new UserError(`-n ${opts.num}: give a number of lines (up to 2000000000) or all`);
        }
        // Heroku calls the platform's own lines `heroku`; here they are `system`.
        const source = opts.source === 'heroku' ? 'system' : opts.source;
        if (source !== undefined && !isLogSource(source)) {
          throw new UserError(`--source ${source}: give app (the processes' output) or system (lifecycle lines)`);
        }
        const { type, instance } = selection(opts);
        await streamLogs(
          api,
          {
            app,
            type,
            instance,
            host: opts.host ?? '',
            source: source ?? '',
            lines: all ? 0 : Number(opts.num),
            all,
            packed: true,
            follow: opts.tail === true || opts.follow === true,
          },
          { json: opts.json === true, color: !opts.json && useColor(opts.color), showHost: opts.showHost === true },
          replicas,
        );
      }),
    );
}

/** The process type or instance asked for with -p, -d or --ps (at most one of them). */
function selection(opts: LogsOptions): { type: string; instance: string } {
  const flags: Array<[string, string | undefined]> = [
    ['-p', opts.processType],
    ['-d', opts.dyno],
    ['--ps', opts.ps],
  ];
  const given = flags.filter((g): g is [string, string] => g[1] !== undefined);
  if (given.length > 1) throw new UserError(`${given.map((g) => g[0]).join(' and ')}: give only one of -p (a process type), -d (an instance) and --ps`);
  if (given.length === 0) return { type: '', instance: '' };
  const [flag, value] = given[0]!;
  if (flag === '-p') {
    if (!isProcessType(value)) throw new UserError(`-p ${value}: give a process type, e.g. worker (for one instance use -d worker.2)`);
    return { type: value, instance: '' };
  }
  if (parseInstanceName(value)) return { type: '', instance: value };
  if (isProcessType(value)) return { type: value, instance: '' };
  throw new UserError(`${flag} ${value}: give an instance (worker.3) or a process type (worker)`);
}

/**
 * Prints the lines of a Logs call until it ends (or Ctrl-C), pacing the server by stdout. Until
 * its first batch it fails as any command that cannot reach the control plane (first-answer.ts);
 * a follow whose stream breaks after that goes on through `replicas` (another replica, or the same
 * one once it is back), from where the reader is (follow-resume.ts). `patient`: a follow that
 * waits for its control plane from the start (cluster dev's, whose control plane may be restarting).
 */
export async function streamLogs(
  api: ClusterApiClient,
  request: LogsRequest,
  out: { json: boolean; color: boolean; showHost?: boolean },
  replicas?: Pick<ReplicaConnection, 'server' | 'moveOn'>,
  opts: { patient?: boolean } = {},
): Promise<void> {
  const print = batchPrinter(request.app ?? '', out);
  const positions = new HostPositions();
  const tries = new ResumeTries();
  const start = new FirstAnswer(replicas);
  const warnings = new FollowWarnings();
  const sinceMs = Date.now();
  /** A batch came: from here on a broken follow is resumed. */
  let answered = opts.patient === true;
  let stopped = false;
  let call: grpc.ClientReadableStream<LogBatch__Output> | undefined;
  const stop = () => {
    stopped = true;
    call?.cancel();
  };
  process.once('SIGINT', stop);
  // A reader that went away (`cluster logs … | head`) ends the stream quietly, as `git log | head`
  // does; the command then returns (exit 0), and `cluster dev` goes on without its log view.
  const outputFailed = (err: NodeJS.ErrnoException) => {
    stop();
    if (err.code === 'EPIPE') return;
    process.stderr.write(`error: cannot write the lines: ${err.message}\n`);
    process.exitCode = 1;
  };
  process.stdout.on('error', outputFailed);
  try {
    // Packed batches (docs/logs.md) unless the caller says otherwise; old control planes ignore the field.
    let next: LogsRequest = { packed: true, ...request };
    for (;;) {
      const current = api.Logs(next);
      call = current;
      /** Its opening warnings may repeat what the reader was told before the failover. */
      let opening = next.resume_since_ms !== undefined;
      let heard = false;
      /**
       * The call broke or ended: nothing of it is printed any more. A call paused for stdout
       * still holds the batches that came meanwhile (grpc-js ends it with those unread); they
       * are not in `positions`, so the next call asks for them again, after what was printed.
       */
      let over = false;
      let waitingForDrain = false;
      const resumeOnDrain = () => {
        waitingForDrain = false;
        if (!over) current.resume();
      };
      const broke = await new Promise<grpc.ServiceError | 'ended' | undefined>((resolve) => {
        const silence = answered ? undefined : setTimeout(() => {
          resolve(silentError());
          current.cancel();
        }, start.silenceMs());
        const hear = () => {
          heard = true;
          clearTimeout(silence);
        };
        current.on('metadata', hear);
        current.on('data', (batch: LogBatch__Output) => {
          if (over) return;
          hear();
          answered = true;
          tries.answered();
          if (request.follow) positions.noteBatch(batch);
          const said = batch.warnings.length > 0 ? warnings.toPrint(batch.warnings, opening) : batch.warnings;
          if (batch.history_done) opening = false;
          if (print(batch, said)) return;
          current.pause();
          if (!waitingForDrain) process.stdout.once('drain', resumeOnDrain);
          waitingForDrain = true;
        });
        // (grpc-js may report a failed call's end after its error: the error wins.)
        current.on('end', () => {
          hear();
          setImmediate(() => resolve(request.follow && !stopped ? 'ended' : undefined));
        });
        current.on('error', (err: grpc.ServiceError) => {
          hear();
          resolve(stopped ? undefined : err);
        });
      });
      over = true;
      process.stdout.off('drain', resumeOnDrain);
      current.removeAllListeners('data');
      if (broke === undefined) return;
      if (!answered) {
        // It never began: a command's failure, as for a unary call (first-answer.ts).
        if (start.another(broke, heard)) continue;
        if (broke === 'ended') return;
        throw broke;
      }
      const firstTry = tries.firstTry;
      const pause = request.follow && replicas && (broke === 'ended' || resumable(broke)) ? tries.next() : undefined;
      if (pause === undefined) {
        if (broke === 'ended') return;
        throw broke;
      }
      const from = replicas!.server;
      const why = broke === 'ended' ? 'it ended the stream' : broke.details || broke.message;
      await new Promise((r) => setTimeout(r, pause));
      if (stopped) return;
      const to = replicas!.moveOn();
      if (firstTry) process.stderr.write(`warning: the control plane at ${from} stopped streaming (${why}); following on through ${to}\n`);
      next = { packed: true, ...request, lines: 0, all: false, resume_after: positions.list(), resume_since_ms: sinceMs };
    }
  } finally {
    process.off('SIGINT', stop);
    // Still listening if the output failed: a later write to the closed pipe must not crash the CLI.
    if (!stopped || process.stdout.writable) process.stdout.off('error', outputFailed);
  }
}

/**
 * Prints a batch, and `warnings` (those of the batch worth printing) on stderr; returns false
 * when stdout is full (the caller waits for its 'drain'). Each batch is one write of whole
 * lines: a stream write is never cut short (Node queues what the pipe cannot take yet).
 */
function batchPrinter(requestApp: string, out: { json: boolean; color: boolean; showHost?: boolean }): (batch: LogBatch__Output, warnings: string[]) => boolean {
  const plain = { color: out.color, showHost: out.showHost === true };
  const json = out.json ? new PackedJsonWriter(jsonLine) : undefined;
  return (batch, warnings) => {
    for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
    const app = batch.app || requestApp;
    let chunk: string | Buffer;
    if (batch.packed.length > 0 && json !== undefined) {
      // The follower's hot path: packed bytes to output bytes, no string or object per line.
      chunk = json.format(batch.packed, app, batch.host);
    } else {
      let text = '';
      // Packed batches (lib/log-packing.ts): one string per batch, no object per line kept.
      if (batch.packed.length > 0) eachPacked(batch.packed, app, batch.host, (l) => (text += formatLine(l, plain)));
      else for (const l of batch.lines) text += out.json ? jsonLine(l) : formatLine(l, plain);
      chunk = text;
    }
    if (chunk.length === 0) return true;
    const bytes = typeof chunk === 'string' ? undefined : chunk;
    return process.stdout.write(chunk, bytes && (() => json?.recycle(bytes)));
  };
}
