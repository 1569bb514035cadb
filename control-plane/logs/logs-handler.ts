/**
 * `cluster logs`: asks every agent that keeps lines of the app, merges their history by
 * time, applies `-n` to the merged result, then forwards live lines as they come. A host
 * that cannot be reached is named in a warning; the others keep streaming. When the CLI
 * goes away every upstream stream is cancelled.
 */
import * as grpc from '@grpc/grpc-js';
import type { Watcher } from 'etcd3';
import type { ClusterApiHandlers } from '../../proto/gen/cluster/api/ClusterApi';
import type { LogBatch__Output } from '../../proto/gen/cluster/logs/LogBatch';
import type { LogLine, LogLine__Output } from '../../proto/gen/cluster/logs/LogLine';
import type { LogsRequest__Output } from '../../proto/gen/cluster/logs/LogsRequest';
import { parseInstanceName } from '../../lib/names';
import { isLogSource } from '../../lib/log-source';
import { InvalidArgumentError } from '../errors';
import { decode, type AgentRecord } from '../records';
import type { ApiContext } from '../api/context';
import { toServiceError } from '../api/status';
import type { AgentDialer } from '../agents/agent-dialer';
import { compareLines, mergedTail } from './merge';

const BATCH = 500;
const MAX_LINES = 100_000;
/** How long to wait for a host's history before going on without it. */
const HISTORY_TIMEOUT_MS = 10_000;
/** Live lines held back while slower hosts still send history; beyond this, the oldest go. */
const MAX_EARLY_LIVE = 50_000;

function validate(req: LogsRequest__Output): void {
  if (!Number.isInteger(req.lines) || req.lines < 0 || req.lines > MAX_LINES) {
    throw new InvalidArgumentError(`-n ${req.lines}: give a number of lines from 0 to ${MAX_LINES}`);
  }
  if (req.type && !/^[A-Za-z0-9_-]+$/.test(req.type)) throw new InvalidArgumentError(`invalid process type \`${req.type}\``);
  if (req.instance && !parseInstanceName(req.instance)) throw new InvalidArgumentError(`invalid instance \`${req.instance}\`: expected TYPE.N`);
  if (req.source && !isLogSource(req.source)) throw new InvalidArgumentError(`invalid source \`${req.source}\`: expected app or system`);
}

interface Upstream {
  host: string;
  call: grpc.ClientReadableStream<LogBatch__Output>;
  historyDone: boolean;
}

export function logsHandler(ctx: ApiContext, dialer: AgentDialer): ClusterApiHandlers['Logs'] {
  return (call) => {
    const req = call.request;
    const upstreams = new Map<string, Upstream>();
    const history: LogLine__Output[] = [];
    let early: LogLine__Output[] = [];
    let earlyDropped = 0;
    let warnings: string[] = [];
    let phase: 'history' | 'live' | 'done' = 'history';
    const over = () => phase === 'done'; // (a function: TypeScript cannot see callbacks change `phase`)
    let watcher: Watcher | undefined;
    let historyTimer: NodeJS.Timeout | undefined;

    ctx.metrics.streamOpened();
    const finish = () => {
      if (phase === 'done') return;
      phase = 'done';
      ctx.metrics.streamClosed();
      clearTimeout(historyTimer);
      for (const u of upstreams.values()) u.call.cancel();
      void watcher?.cancel().catch(() => undefined);
    };
    call.on('cancelled', finish);
    call.on('close', finish);

    let draining = false;
    const write = (batch: { lines?: LogLine[]; history_done?: boolean; warnings?: string[] }) => {
      if (phase === 'done') return;
      if (!call.write(batch) && !draining) {
        // The reader is slow: stop reading from the hosts until it catches up (the
        // agents then queue, and tell the reader how many lines it missed).
        draining = true;
        for (const u of upstreams.values()) u.call.pause();
        call.once('drain', () => {
          draining = false;
          for (const u of upstreams.values()) u.call.resume();
        });
      }
    };

    const maybeEndHistory = () => {
      if (phase !== 'history') return;
      if ([...upstreams.values()].some((u) => !u.historyDone)) return;
      clearTimeout(historyTimer);
      const tail = mergedTail(history, req.lines);
      for (let i = 0; i < tail.length; i += BATCH) write({ lines: tail.slice(i, i + BATCH) });
      if (earlyDropped > 0) warnings.push(`${earlyDropped} live lines were dropped while waiting for slow hosts`);
      write({ history_done: true, warnings });
      warnings = [];
      if (!req.follow) {
        finish();
        call.end();
        return;
      }
      phase = 'live';
      early.sort(compareLines);
      for (let i = 0; i < early.length; i += BATCH) write({ lines: early.slice(i, i + BATCH) });
      early = [];
    };

    const warn = (text: string) => {
      if (phase === 'history') warnings.push(text);
      else write({ warnings: [text] });
    };

    const open = (agent: AgentRecord, lines: number) => {
      if (upstreams.has(agent.id) || phase === 'done') return;
      const upstream: Upstream = {
        host: agent.id,
        historyDone: false,
        call: dialer.client(agent).Logs({
          app: req.app,
          type: req.type,
          instance: req.instance,
          source: req.source,
          lines,
          follow: req.follow,
        }),
      };
      upstreams.set(agent.id, upstream);
      upstream.call.on('data', (batch: LogBatch__Output) => {
        if (phase === 'done') return;
        for (const line of batch.lines) line.host = agent.id;
        if (!upstream.historyDone) history.push(...batch.lines);
        else if (phase === 'history') {
          early.push(...batch.lines);
          if (early.length > MAX_EARLY_LIVE) {
            earlyDropped += early.length - MAX_EARLY_LIVE;
            early = early.slice(-MAX_EARLY_LIVE);
          }
        } else if (batch.lines.length > 0) write({ lines: batch.lines });
        if (batch.history_done && !upstream.historyDone) {
          upstream.historyDone = true;
          maybeEndHistory();
        }
      });
      upstream.call.on('error', (err: grpc.ServiceError) => {
        if (phase === 'done' || err.code === grpc.status.CANCELLED) return;
        warn(`host ${agent.id} (${agent.address}) cannot be reached: ${err.details || err.message}`);
        upstream.historyDone = true;
        maybeEndHistory();
      });
      upstream.call.on('end', () => {
        if (!upstream.historyDone) {
          upstream.historyDone = true;
          maybeEndHistory();
        }
      });
    };

    void (async () => {
      validate(req);
      await ctx.store.getApp(req.app);
      const agents = new Map(ctx.view.agentList().map((a) => [a.id, a]));
      if (req.host && !agents.has(req.host)) warn(`no live agent \`${req.host}\``);
      const sourceIds = (await ctx.client.getAll().prefix(ctx.keys.logSources(req.app)).keys())
        .map((k) => k.slice(ctx.keys.logSources(req.app).length));
      const wanted = (id: string) => !req.host || id === req.host;
      for (const id of sourceIds) {
        const agent = agents.get(id);
        if (agent && wanted(id)) open(agent, req.lines);
      }
      historyTimer = setTimeout(() => {
        for (const u of upstreams.values()) {
          if (u.historyDone) continue;
          u.historyDone = true;
          warnings.push(`host ${u.host} sent no history within ${HISTORY_TIMEOUT_MS / 1000} s`);
        }
        maybeEndHistory();
      }, HISTORY_TIMEOUT_MS);
      maybeEndHistory(); // no hosts at all

      if (req.follow && !over()) {
        // Hosts that start running the app later join the stream.
        watcher = await ctx.client.watch().prefix(ctx.keys.logSources(req.app)).create();
        if (over()) return void watcher.cancel();
        watcher.on('put', (kv) => {
          const id = kv.key.toString().slice(ctx.keys.logSources(req.app).length);
          const agent = decode<AgentRecord>(ctx.view.agents.entries.get(ctx.keys.agent(id))?.value);
          if (agent && wanted(id)) open(agent, 0);
        });
      }
    })().catch((err: unknown) => {
      if (phase === 'done') return;
      finish();
      call.emit('error', toServiceError(err, ctx.logger));
    });
  };
}
