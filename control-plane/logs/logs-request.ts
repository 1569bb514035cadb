/** A LogsRequest checked at the edge: every problem named, before any host is asked. */
import type { LogsRequest__Output } from '../../proto/gen/cluster/logs/LogsRequest';
import { agentIdProblem } from '../../lib/names';
import { logFilterProblem } from '../../lib/log-filter';
import { InvalidArgumentError } from '../errors';

/** Largest `-n` besides `all`. */
const MAX_LINES = 2_000_000_000;
/** Hosts a resumed follow may name (LogsRequest.resume_after). */
const MAX_RESUME_HOSTS = 10_000;

export function validateLogsRequest(req: LogsRequest__Output): void {
  if (!Number.isInteger(req.lines) || req.lines < 0 || req.lines > MAX_LINES) {
    throw new InvalidArgumentError(`-n ${req.lines}: give a number of lines from 0 to ${MAX_LINES}, or all`);
  }
  const filterProblem = logFilterProblem(req);
  if (filterProblem) throw new InvalidArgumentError(filterProblem);
  const hostProblem = req.host ? agentIdProblem(req.host) : undefined;
  if (hostProblem) throw new InvalidArgumentError(`--host: ${hostProblem}`);
  if (req.resume_since_ms !== 0 || req.resume_after.length > 0) {
    if (!req.follow) throw new InvalidArgumentError('a resumed log stream must follow');
    if (!Number.isFinite(req.resume_since_ms) || req.resume_since_ms <= 0) throw new InvalidArgumentError(`resume_since_ms ${req.resume_since_ms}: give the time the follow began (ms since the epoch)`);
    if (req.resume_after.length > MAX_RESUME_HOSTS) throw new InvalidArgumentError(`resume_after names ${req.resume_after.length} hosts: at most ${MAX_RESUME_HOSTS}`);
    for (const p of req.resume_after) {
      const problem = agentIdProblem(p.host);
      if (problem) throw new InvalidArgumentError(`resume_after: ${problem}`);
      if (!Number.isSafeInteger(p.seq) || p.seq < 0) throw new InvalidArgumentError(`resume_after: seq ${p.seq} of host ${p.host} is not a line's seq`);
    }
  }
}
