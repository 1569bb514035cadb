/**
 * One agent asked for an app's lines by a `cluster logs` call (logs-handler.ts): its gRPC stream
 * and where it stands — history sent or not, batches held while other hosts still send theirs,
 * paused and why, asked again after its stream broke.
 */
import type * as grpc from '@grpc/grpc-js';
import type { LogBatch__Output } from '../../proto/gen/cluster/logs/LogBatch';
import type { UnpackedLine } from '../../lib/log-packing';
import type { AgentRecord } from '../records';
import type { ResumeCut } from './follow-positions';

/** A followed host whose stream broke is asked again after this, doubling up to the next while it stays away. */
const REJOIN_FIRST_MS = 500;
const REJOIN_MAX_MS = 30_000;

export interface Upstream {
  host: string;
  call: grpc.ClientReadableStream<LogBatch__Output>;
  historyDone: boolean;
  /** Live batches that came while other hosts still sent history. */
  early: LogBatch__Output[];
  /** Asked again while a merged history is still sent: its resumed lines, held until that is over (then in order). */
  held: UnpackedLine[];
  /** Paused because `early` is full (not by the reader's pace). */
  heldBack: boolean;
  /** Paused because the history merge holds enough of its lines (it waits for slower hosts). */
  mergeHeld: boolean;
  /** Sent anything: a host that streams a long history is not given up on. */
  heard: boolean;
  /** Sent no history in time: the history it still sends is left out (it would come after live lines). */
  late?: boolean;
  /** The registration it was asked under: a newer one means its agent restarted. */
  registeredAtMs: number;
  /** Asked again or late while following: its history is cut at what the reader has had. */
  resume?: ResumeCut;
  /** Its stream broke while following: it is asked again (rejoinLater) and when it registers again. */
  lost: boolean;
  /** Times in a row it was asked again without an answer (0 once it answers). */
  attempts: number;
  /** Cancelled here (the reader left, or a newer stream replaced it): its end is no news. */
  cancelledHere: boolean;
}

/** A host's stream as it is opened: nothing heard yet. */
export function newUpstream(agent: AgentRecord, call: grpc.ClientReadableStream<LogBatch__Output>, resume: ResumeCut | undefined, attempts: number): Upstream {
  return {
    host: agent.id,
    call,
    historyDone: false,
    early: [],
    held: [],
    heldBack: false,
    mergeHeld: false,
    heard: false,
    registeredAtMs: agent.registeredAtMs,
    resume,
    lost: false,
    attempts,
    cancelledHere: false,
  };
}

/** How long before a lost host is asked again, after `attempts` unanswered ones. */
export function rejoinDelayMs(attempts: number): number {
  return Math.min(REJOIN_MAX_MS, REJOIN_FIRST_MS * 2 ** attempts);
}
