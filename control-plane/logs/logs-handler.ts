/**
 * `cluster logs`: asks every agent that keeps lines of the app for history then live lines,
 * and forwards them. A host that cannot be reached is named in a warning; the others keep
 * streaming. When the reader goes away every upstream stream is cancelled.
 *
 * Ordering (docs/logs.md): lines of one host always come in that host's order. History of
 * several hosts, up to 100,000 lines, is merged by time and `-n` applies to the merged result;
 * larger history (`-n all`) is streamed host batch by host batch. Live lines are forwarded
 * batch by batch as they arrive, packed batches untouched (never decoded per line here).
 * Nothing is dropped: a slow reader pauses the upstream streams, and the agents then continue
 * from their files.
 */
import * as grpc from '@grpc/grpc-js';
import type { ClusterApiHandlers } from '../../proto/gen/cluster/api/ClusterApi';
import type { LogBatch, LogBatch__Output } from '../../proto/gen/cluster/logs/LogBatch';
import type { LogsRequest__Output } from '../../proto/gen/cluster/logs/LogsRequest';
import type { UnpackedLine } from '../../lib/log-packing';
import { parseInstanceName, processTypeProblem } from '../../lib/names';
import { isLogSource } from '../../lib/log-source';
import { InvalidArgumentError } from '../errors';
import type { AgentRecord } from '../records';
import type { ApiContext } from '../rpc/context';
import { toServiceError } from '../rpc/status';
import type { AgentDialer } from '../agents/agent-dialer';
import { logSourceHosts, watchLogSources } from '../state/log-sources';
import { AgentRecords } from '../state/agent-records';
import { batchesOf, forReader, linesOf } from './batch-forwarding';
import { mergedTail } from './merge';

/** History up to this many lines is merged by time here; more (or `-n all`) is streamed. */
export const MAX_MERGED_LINES = 100_000;
/** Largest `-n` besides `all`. */
const MAX_LINES = 2_000_000_000;
/** How long to wait for a host's first answer before going on without its history. */
const HISTORY_TIMEOUT_MS = 10_000;
/** Live batches held per host while slower hosts still send history; beyond this the host is paused. */
const MAX_EARLY_BATCHES = 64;

function validate(req: LogsRequest__Output): void {
  if (!Number.isInteger(req.lines) || req.lines < 0 || req.lines > MAX_LINES) {
    throw new InvalidArgumentError(`-n ${req.lines}: give a number of lines from 0 to ${MAX_LINES}, or all`);
  }
  const typeProblem = req.type ? processTypeProblem(req.type) : undefined;
  if (typeProblem) throw new InvalidArgumentError(typeProblem);
  if (req.instance && !parseInstanceName(req.instance)) throw new InvalidArgumentError(`invalid instance \`${req.instance}\`: expected TYPE.N`);
  if (req.source && !isLogSource(req.source)) throw new InvalidArgumentError(`invalid source \`${req.source}\`: expected app or system`);
}

interface Upstream {
  host: string;
  call: grpc.ClientReadableStream<LogBatch__Output>;
  historyDone: boolean;
  /** Live batches that came while other hosts still sent history. */
  early: LogBatch__Output[];
  /** Paused because `early` is full (not by the reader's pace). */
  heldBack: boolean;
  /** Sent anything: a host that streams a long history is not given up on. */
  heard: boolean;
}

export function logsHandler(ctx: ApiContext, dialer: AgentDialer): ClusterApiHandlers['Logs'] {
  const registrations = new AgentRecords(ctx.client, ctx.keys);
  return (call) => {
    const req = call.request;
    const packed = req.packed;
    const streamed = req.all || req.lines > MAX_MERGED_LINES;
    const upstreams = new Map<string, Upstream>();
    /** History lines to merge (several hosts, not streamed). */
    const history: UnpackedLine[] = [];
    let merging = false;
    let warnings: string[] = [];
    let phase: 'history' | 'live' | 'done' = 'history';
    const over = () => phase === 'done'; // (a function: TypeScript cannot see callbacks change `phase`)
    let cancelWatch: (() => Promise<void>) | undefined;
    let historyTimer: NodeJS.Timeout | undefined;

    ctx.metrics.streamOpened();
    const finish = () => {
      if (phase === 'done') return;
      phase = 'done';
      ctx.metrics.streamClosed();
      clearTimeout(historyTimer);
      for (const u of upstreams.values()) u.call.cancel();
      cancelWatch?.().catch(() => undefined);
    };
    call.on('cancelled', finish);
    call.on('close', finish);

    let draining = false;
    const write = (batch: LogBatch) => {
      if (phase === 'done') return;
      if (!call.write(batch) && !draining) {
        // The reader is slow: stop reading from the hosts until it catches up (the agents then
        // continue from their files: nothing is lost).
        draining = true;
        for (const u of upstreams.values()) u.call.pause();
        call.once('drain', () => {
          draining = false;
          for (const u of upstreams.values()) if (!u.heldBack) u.call.resume();
        });
      }
    };
    const forward = (batch: LogBatch__Output, host: string) => {
      const out = forReader(batch, req.app, host, packed);
      if (out) write(out);
    };

    const maybeEndHistory = () => {
      if (phase !== 'history') return;
      if ([...upstreams.values()].some((u) => !u.historyDone)) return;
      clearTimeout(historyTimer);
      if (merging) for (const b of batchesOf(mergedTail(history, req.lines), req.app, packed)) write(b);
      history.length = 0;
      write({ history_done: true, warnings });
      warnings = [];
      if (!req.follow) {
        finish();
        call.end();
        return;
      }
      phase = 'live';
      for (const u of upstreams.values()) {
        for (const b of u.early) forward(b, u.host);
        u.early = [];
        if (u.heldBack) {
          u.heldBack = false;
          if (!draining) u.call.resume();
        }
      }
    };

    const warn = (text: string) => {
      if (phase === 'history') warnings.push(text);
      else write({ warnings: [text] });
    };

    /**
     * The agent to ask: from this replica's mirror, or from etcd when the mirror does not show it
     * yet (an agent that registered a moment ago puts its log sources with its registration, and
     * this replica's watch may be a step behind); undefined when it is not registered.
     */
    const agentOf = async (id: string): Promise<AgentRecord | undefined> => {
      const mirrored = ctx.view.agent(id);
      if (mirrored?.address) return mirrored;
      const record = await registrations.registered(id);
      return record?.address ? record : undefined;
    };

    const open = (agent: AgentRecord, withHistory: boolean) => {
      if (upstreams.has(agent.id) || phase === 'done') return;
      const upstream: Upstream = {
        host: agent.id,
        historyDone: false,
        early: [],
        heldBack: false,
        heard: false,
        call: dialer.client(agent).Logs({
          app: req.app,
          type: req.type,
          instance: req.instance,
          source: req.source,
          lines: withHistory ? req.lines : 0,
          all: withHistory && req.all,
          follow: req.follow,
          packed: true,
        }),
      };
      upstreams.set(agent.id, upstream);
      upstream.call.on('data', (batch: LogBatch__Output) => {
        if (phase === 'done') return;
        upstream.heard = true;
        if (!upstream.historyDone) {
          if (merging) history.push(...linesOf(batch, req.app, agent.id));
          else forward(batch, agent.id);
        } else if (phase === 'history') {
          upstream.early.push(batch);
          if (upstream.early.length >= MAX_EARLY_BATCHES && !upstream.heldBack) {
            upstream.heldBack = true;
            upstream.call.pause();
          }
        } else forward(batch, agent.id);
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
      const wanted = (id: string) => !req.host || id === req.host;
      const sources = (await logSourceHosts(ctx.client, ctx.keys, req.app)).filter(wanted);
      if (req.host && sources.length === 0 && !(await agentOf(req.host))) warn(`no live agent \`${req.host}\``);
      const found = await Promise.all(sources.map(async (id) => ({ id, agent: await agentOf(id) })));
      for (const { id, agent } of found) {
        if (!agent) warn(`host ${id} keeps lines of \`${req.app}\` but is not registered now (its agent is stopping or starting): its lines are not shown`);
      }
      const hosts = found.flatMap(({ agent }) => (agent ? [agent] : []));
      // One host's history is in order already: it passes through as it comes.
      merging = hosts.length > 1 && !streamed;
      for (const agent of hosts) open(agent, true);
      historyTimer = setTimeout(() => {
        for (const u of upstreams.values()) {
          if (u.historyDone || u.heard) continue;
          u.historyDone = true;
          warnings.push(`host ${u.host} sent no history within ${HISTORY_TIMEOUT_MS / 1000} s`);
        }
        maybeEndHistory();
      }, HISTORY_TIMEOUT_MS);
      maybeEndHistory(); // no hosts at all

      if (req.follow && !over()) {
        // Hosts that start running the app later join the stream.
        const cancel = await watchLogSources(ctx.client, ctx.keys, req.app, (id) => {
          if (!wanted(id)) return;
          agentOf(id).then((agent) => agent && open(agent, false), (err: unknown) => ctx.logger.warn({ err, host: id }, 'could not read a log host\'s registration'));
        });
        if (over()) return void cancel().catch(() => undefined);
        cancelWatch = cancel;
      }
    })().catch((err: unknown) => {
      if (phase === 'done') return;
      finish();
      call.emit('error', toServiceError(err, ctx.logger));
    });
  };
}
