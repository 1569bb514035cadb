/**
 * `cluster logs`: asks every agent that keeps lines of the app for history then live lines,
 * and forwards them. A host that cannot be reached is named in a warning; the others keep
 * streaming. When the reader goes away every upstream stream is cancelled.
 *
 * Ordering (docs/logs.md): lines of one host always come in that host's order. History of
 * several hosts is merged by time as it streams in, in bounded memory, and `-n` applies to the
 * merged result (merged-history.ts). Live lines are forwarded batch by batch
 * as they arrive, packed batches untouched (never decoded per line here).
 * Nothing is dropped: a slow reader pauses the upstream streams, and the agents then continue
 * from their files.
 */
import * as grpc from '@grpc/grpc-js';
import type { ClusterApiHandlers } from '../../proto/gen/cluster/api/ClusterApi';
import type { LogBatch, LogBatch__Output } from '../../proto/gen/cluster/logs/LogBatch';
import type { UnpackedLine } from '../../lib/log-packing';
import type { AgentRecord } from '../records';
import type { ApiContext } from '../rpc/context';
import { toServiceError } from '../rpc/status';
import type { AgentDialer } from '../agents/agent-dialer';
import { watchLogSources } from '../state/log-sources';
import { AgentRecords } from '../state/agent-records';
import { batchesOf, forReader, linesOf } from './batch-forwarding';
import { FollowPositions, RESUME_LINES, type ResumeCut } from './follow-positions';
import { MergedHistory } from './merged-history';
import { validateLogsRequest } from './logs-request';
import { unknownTypeWarning } from './type-filter';
import { DestroyedApps } from './destroyed-apps';
import { newUpstream, rejoinDelayMs, type Upstream } from './upstream';
import { hostsToAsk, registeredNow } from './log-hosts';
import { NotFoundError } from '../errors';
import { transportReason } from '../../lib/transport-reason';

/** How long to wait for a host's first answer before going on without its history. */
const HISTORY_TIMEOUT_MS = 10_000;
/** Live batches held per host while slower hosts still send history; beyond this the host is paused. */
const MAX_EARLY_BATCHES = 64;


export function logsHandler(ctx: ApiContext, dialer: AgentDialer): ClusterApiHandlers['Logs'] {
  const registrations = new AgentRecords(ctx.client, ctx.keys);
  /** Follows of apps that get destroyed end (made at the first follow: one listener on the apps' mirror). */
  let destroyedApps: DestroyedApps | undefined;
  return (call) => {
    const req = call.request;
    const packed = req.packed;
    const upstreams = new Map<string, Upstream>();
    /** Several hosts' histories merged by time, `-n` applied (merged-history.ts). */
    let merged: MergedHistory | undefined;
    let warnings: string[] = [];
    let phase: 'history' | 'live' | 'done' = 'history';
    const over = () => phase === 'done'; // (a function: TypeScript cannot see callbacks change `phase`)
    let cancelWatch: (() => Promise<void>) | undefined;
    let cancelDestroyWatch: (() => void) | undefined;
    let historyTimer: NodeJS.Timeout | undefined;
    /** A follow resumed through this replica after another went away: no history, each host cut where the reader is. */
    const resumed = req.resume_since_ms > 0;
    const positions = new FollowPositions(resumed ? req.resume_since_ms : Date.now());
    /** Hosts that started keeping lines of the app while history was still being sent: asked once it is. */
    const joinsAfterHistory = new Set<string>();
    const rejoinTimers = new Set<NodeJS.Timeout>();

    ctx.metrics.streamOpened();
    // Headers at once: the CLI knows it reached a control plane before any line (the history
    // may take up to HISTORY_TIMEOUT_MS), and gives up on one that says nothing within the
    // deadline of its other calls (cli/first-answer.ts).
    call.sendMetadata(new grpc.Metadata());
    const finish = () => {
      if (phase === 'done') return;
      phase = 'done';
      ctx.metrics.streamClosed();
      clearTimeout(historyTimer);
      cancelDestroyWatch?.();
      for (const t of rejoinTimers) clearTimeout(t);
      for (const u of upstreams.values()) {
        u.cancelledHere = true;
        u.call.cancel();
      }
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
          for (const u of upstreams.values()) if (!u.heldBack && !u.mergeHeld) u.call.resume();
        });
      }
    };
    const forward = (batch: LogBatch__Output, host: string) => {
      const out = forReader(batch, req.app, host, packed);
      if (!out) return;
      write(out);
      if (req.follow) positions.forwarded(host, batch);
    };
    /**
     * History of a host asked again: only what the reader has not had. While a merged history is
     * still sent it is held (written between the merged lines it would disorder), and counted as
     * the reader's already, so that a host asked yet again sends none of it twice.
     */
    const forwardResumed = (batch: LogBatch__Output, upstream: Upstream) => {
      const lines = upstream.resume!.keep(linesOf(batch, req.app, upstream.host));
      if (lines.length === 0) return;
      if (merged && phase === 'history') {
        for (const l of lines) upstream.held.push(l);
      } else {
        for (const b of batchesOf(lines, req.app, packed)) write(b);
      }
      positions.forwardedSeq(upstream.host, lines[lines.length - 1]!.seq);
    };

    /** Merged history lines for the reader (each host's place noted for a follow). */
    const forwardMerged = (lines: UnpackedLine[]) => {
      for (const b of batchesOf(lines, req.app, packed)) write(b);
      if (req.follow) for (const l of lines) positions.forwardedSeq(l.host, l.seq);
    };
    const startMerge = (hosts: AgentRecord[]) => {
      merged = new MergedHistory(hosts.map((a) => a.id), req, {
        out: forwardMerged,
        pause: (host) => {
          const u = upstreams.get(host);
          if (!u) return;
          u.mergeHeld = true;
          u.call.pause();
        },
        resume: (host) => {
          const u = upstreams.get(host);
          if (!u?.mergeHeld) return;
          u.mergeHeld = false;
          if (!draining && !u.heldBack) u.call.resume();
        },
      });
    };
    /** A host's history is over (sent whole, given up on, or its stream ended). */
    const historyEnded = (upstream: Upstream) => {
      upstream.historyDone = true;
      merged?.end(upstream.host);
      maybeEndHistory();
    };

    const maybeEndHistory = () => {
      if (phase !== 'history') return;
      if ([...upstreams.values()].some((u) => !u.historyDone)) return;
      clearTimeout(historyTimer);
      if (merged) {
        const gathered = merged.finish();
        merged = undefined;
        warnings.push(...gathered.warnings);
        forwardMerged(gathered.lines);
      }
      for (const u of upstreams.values()) {
        if (u.held.length > 0) for (const b of batchesOf(u.held, req.app, packed)) write(b);
        u.held = [];
      }
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
      for (const id of joinsAfterHistory) join(id);
      joinsAfterHistory.clear();
    };

    const warn = (text: string) => {
      if (phase === 'history') warnings.push(text);
      else write({ warnings: [text] });
    };

    /**
     * The agent a log-source put came from, as registered now, read from etcd: a registration
     * puts its log sources in the same transaction (agents/agent-service.ts), and this replica's
     * mirror may not show it yet when the watch fires. The mirror's record is then the previous
     * run's, at its old port: that dial failed and the host was asked again only after its
     * back-off (seconds late).
     */
    const registrationOf = (id: string) => registeredNow(registrations, id);

    /** When the app was created: agents leave out lines from before (an app destroyed under its name). */
    let appCreatedAtMs = 0;

    /**
     * Asks `agent` for the app's lines: with the reader's history (`resume` undefined), or, for a
     * host asked late or again while following, with its history cut at what the reader has had.
     * `afterFailover`: the reader's follow broke with its control plane, not with this host: a
     * host it had lines of goes on from its place with every line the agent keeps (the agent
     * reads them from its files), not from its last RESUME_LINES.
     */
    const open = (agent: AgentRecord, resume?: ResumeCut, attempts = 0, afterFailover = false) => {
      if (upstreams.has(agent.id) || phase === 'done') return;
      const withHistory = resume === undefined;
      const place = afterFailover ? resume?.afterSeq : undefined;
      const stream = dialer.client(agent).Logs({
        app: req.app,
        type: req.type,
        instance: req.instance,
        source: req.source,
        // (An agent older than resume_after sends these, cut here at the reader's place.)
        lines: withHistory ? req.lines : RESUME_LINES,
        all: withHistory && req.all,
        follow: req.follow,
        packed: true,
        resume_after: place === undefined ? [] : [{ host: agent.id, seq: place }],
        since_ms: appCreatedAtMs,
      });
      const upstream = newUpstream(agent, stream, resume, attempts);
      upstreams.set(agent.id, upstream);
      if (draining) upstream.call.pause();
      upstream.call.on('data', (batch: LogBatch__Output) => {
        if (phase === 'done') return;
        if (upstream.attempts > 0 && !upstream.heard) {
          warn(`host ${agent.id} answers again: its lines from while it was away follow`);
          upstream.attempts = 0;
        }
        upstream.heard = true;
        for (const w of batch.warnings) warn(w); // an agent's own (its history cut by its text bound)
        if (upstream.late) {
          if (batch.history_done) upstream.late = false; // live lines from here on
          return;
        }
        if (!upstream.historyDone) {
          if (upstream.resume) forwardResumed(batch, upstream);
          else if (merged) {
            const lines = linesOf(batch, req.app, agent.id);
            merged.push(agent.id, lines, batch.history_lines);
            // Streamed: queued lines come out even if this host's stream breaks (its end drains
            // them), so a host asked again is cut after them, not after what came out so far.
            if (req.follow && !merged.gathering && lines.length > 0) positions.forwardedSeq(agent.id, lines[lines.length - 1]!.seq);
          }
          else forward(batch, agent.id);
        } else if (phase === 'history') {
          upstream.early.push(batch);
          if (upstream.early.length >= MAX_EARLY_BATCHES && !upstream.heldBack) {
            upstream.heldBack = true;
            upstream.call.pause();
          }
        } else forward(batch, agent.id);
        if (batch.history_done && !upstream.historyDone) {
          if (upstream.resume?.mayHaveMissed()) warn(missedWarning(agent.id, afterFailover));
          historyEnded(upstream);
        }
      });
      upstream.call.on('error', (err: grpc.ServiceError) => {
        ended(upstream, `host ${agent.id} (${agent.address}) cannot be reached: ${transportReason(err.details || err.message)}`);
      });
      // A followed host ends its stream only when its agent stops.
      upstream.call.on('end', () => ended(upstream, req.follow ? `host ${agent.id} stopped sending lines (its agent stopped or is restarting)` : undefined));
    };

    /** A host's stream ended or failed (grpc-js may say both): named once, and asked again when following. */
    const ended = (upstream: Upstream, warning: string | undefined) => {
      if (phase === 'done' || upstream.cancelledHere || upstream.lost) return;
      if (warning && upstream.attempts === 0) warn(warning);
      askAgainLater(upstream);
      if (!upstream.historyDone) historyEnded(upstream);
    };

    /** A followed host's stream broke: it is asked again, sooner if it registers again. */
    const askAgainLater = (upstream: Upstream) => {
      upstream.lost = true;
      if (!req.follow) return;
      const timer = setTimeout(() => {
        rejoinTimers.delete(timer);
        if (over() || upstreams.get(upstream.host) !== upstream) return;
        const agent = ctx.view.agent(upstream.host);
        if (agent?.address) rejoin(agent, upstream);
        else {
          // Not registered now: try again later, for as long as the reader follows.
          upstream.attempts += 1;
          askAgainLater(upstream);
        }
      }, rejoinDelayMs(upstream.attempts));
      rejoinTimers.add(timer);
    };
    const rejoin = (agent: AgentRecord, old: Upstream) => {
      old.cancelledHere = true;
      old.call.cancel();
      upstreams.delete(agent.id);
      open(agent, positions.resume(agent.id), old.attempts + (old.lost ? 1 : 0));
    };

    /** A host put its log-source record (it registered, or started keeping lines of the app). */
    const join = (id: string) => {
      if (!wanted(id) || over()) return;
      if (phase === 'history') return void joinsAfterHistory.add(id);
      registrationOf(id).then((agent) => {
        if (!agent || over()) return;
        const current = upstreams.get(id);
        if (!current) open(agent, positions.resume(id));
        else if (current.lost || agent.registeredAtMs > current.registeredAtMs) rejoin(agent, current);
      }, (err: unknown) => ctx.logger.warn({ err, host: id }, 'could not read a log host\'s registration'));
    };
    const wanted = (id: string) => !req.host || id === req.host;
    /** A host asked again sent only its last RESUME_LINES, all of them new to the reader. */
    const missedWarning = (id: string, afterFailover: boolean) => {
      const rest = `older ones are not shown (cluster logs -a ${req.app} --host ${id} -n all has them)`;
      // After a failover the host was not away: it had more lines than it was asked for.
      if (afterFailover) return `host ${id} has over ${RESUME_LINES} lines this follow had not shown when it moved to this control plane: ${rest}`;
      return `host ${id} printed over ${RESUME_LINES} lines while it was away: ${rest}`;
    };

    /** Ends the call with `err` (its reason in the trailer), the upstreams cancelled. */
    const failWith = (err: unknown) => {
      if (phase === 'done') return;
      finish();
      call.emit('error', toServiceError(err, ctx.logger));
    };

    void (async () => {
      validateLogsRequest(req);
      const { app, modRevision } = await ctx.store.getAppVersion(req.app);
      appCreatedAtMs = app.createdAtMs;
      if (req.follow && !over()) {
        // Its instances are stopped and no line comes again: the follow ends with the news (exit 1 in the CLI).
        destroyedApps ??= new DestroyedApps(ctx.view.apps);
        cancelDestroyWatch = destroyedApps.watch(ctx.keys.app(req.app), app, modRevision, () =>
          failWith(new NotFoundError(`app \`${req.app}\` was destroyed: no more lines will come`)),
        );
      }
      if (over()) return; // destroyed already
      if (!resumed) {
        const typeWarning = await unknownTypeWarning(ctx.store, req, app);
        if (typeWarning) warn(typeWarning);
      }
      const { hosts, revision } = await hostsToAsk(ctx, registrations, req.app, req.host, warn, { wait: !req.follow, over });
      if (resumed) {
        for (const p of req.resume_after) positions.forwardedSeq(p.host, p.seq);
        maybeEndHistory(); // none to send: live at once, then each host's lines after the reader's place
        for (const agent of hosts) open(agent, positions.resume(agent.id), 0, true);
      } else {
        // One host's history is in order already: it passes through as it comes.
        if (hosts.length > 1) startMerge(hosts);
        for (const agent of hosts) open(agent);
        historyTimer = setTimeout(() => {
          const late = [...upstreams.values()].filter((u) => !u.historyDone && !u.heard);
          for (const u of late) {
            u.late = true;
            warnings.push(`host ${u.host} sent no history within ${HISTORY_TIMEOUT_MS / 1000} s: its history is left out${req.follow ? ', its live lines follow' : ''}`);
          }
          for (const u of late) historyEnded(u);
          maybeEndHistory();
        }, HISTORY_TIMEOUT_MS);
        maybeEndHistory(); // no hosts at all
      }

      if (req.follow && !over()) {
        // Hosts that start running the app later join the stream, and hosts whose agent
        // restarted come back (their log sources are put again at every registration).
        const cancel = await watchLogSources(ctx.client, ctx.keys, req.app, revision, join);
        if (over()) return void cancel().catch(() => undefined);
        cancelWatch = cancel;
      }
    })().catch(failWith);
  };
}
