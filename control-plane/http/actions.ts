/**
 * The dashboard's state-changing requests, each checked at the edge and then run by the
 * cluster API's own handler (scale with relative changes as `ps:scale web+1` does, restart,
 * rollback, agents:drain/activate/web).
 */
import type { ClusterApiHandlers } from '../../proto/gen/cluster/api/ClusterApi';
import { agentIdProblem, parseInstanceName } from '../../lib/names';
import { callHandler, HttpError } from './grpc-bridge';
import { appFromUrl } from './api-views';

const TYPE = /^[A-Za-z0-9_-]{1,63}$/;
/** The largest single step the dashboard sends; the control plane's own limit applies after it. */
const MAX_STEP = 1000;

function processType(value: unknown): string {
  if (typeof value !== 'string' || !TYPE.test(value)) throw new HttpError(400, `\`type\` must be a process type name (letters, digits, - and _), not ${JSON.stringify(value)?.slice(0, 64)}`);
  return value;
}

function wholeNumber(value: unknown, what: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new HttpError(400, `\`${what}\` must be a whole number from ${min} to ${max}, not ${JSON.stringify(value)?.slice(0, 64)}`);
  }
  return value;
}

/** An agent id from a URL: one no agent can have is bad input (400); 404 is for a valid id no agent has. */
function agentId(id: string): string {
  const problem = agentIdProblem(id);
  if (problem) throw new HttpError(400, id.length <= 64 ? problem : problem.replace(id, `${id.slice(0, 64)}…`));
  return id;
}

export class DashboardActions {
  constructor(private readonly api: ClusterApiHandlers) {}

  /** `{type, change}` adds change (+1, -1) to the current count; `{type, count}` sets it. */
  async scale(app: string, body: Record<string, unknown>): Promise<unknown> {
    const type = processType(body.type);
    const hasChange = body.change !== undefined;
    if (hasChange === (body.count !== undefined)) throw new HttpError(400, 'give either `change` (e.g. 1 or -1) or `count`');
    const change = hasChange
      ? { type, count: wholeNumber(body.change, 'change', -MAX_STEP, MAX_STEP), relative: true }
      : { type, count: wholeNumber(body.count, 'count', 0, MAX_STEP), relative: false };
    if (change.relative && change.count === 0) throw new HttpError(400, '`change` must not be 0');
    return callHandler(this.api.Scale, { app: appFromUrl(app), changes: [change] });
  }

  /**
   * `{target}`: "" (everything), a type (`web`) or an instance (`web.2`). A body without it is
   * refused: a rolling restart of every instance is asked for with "", never by leaving it out.
   */
  async restart(app: string, body: Record<string, unknown>): Promise<unknown> {
    const target = body.target;
    if (target === undefined) throw new HttpError(400, '`target` is missing: give "" to restart every instance, a process type (web) or an instance (web.2)');
    if (typeof target !== 'string' || (target !== '' && !TYPE.test(target) && !parseInstanceName(target))) {
      throw new HttpError(400, `\`target\` must be "" (every instance), a process type (web) or an instance (web.2), not ${JSON.stringify(target)?.slice(0, 64)}`);
    }
    return callHandler(this.api.Restart, { app: appFromUrl(app), target });
  }

  /** `{version}`: a new release equal to vN. */
  async rollback(app: string, body: Record<string, unknown>): Promise<unknown> {
    const version = wholeNumber(body.version, 'version', 1, 2 ** 31 - 1);
    return callHandler(this.api.Rollback, { app: appFromUrl(app), version });
  }

  drain(id: string): Promise<unknown> {
    return callHandler(this.api.DrainAgent, { id: agentId(id) });
  }

  activate(id: string): Promise<unknown> {
    return callHandler(this.api.ActivateAgent, { id: agentId(id) });
  }

  /** agents:remove: only an agent that is down. */
  remove(id: string): Promise<unknown> {
    return callHandler(this.api.RemoveAgent, { id: agentId(id) });
  }

  /** `{web: true|false, force?}`: Cloud 66's "serves web" toggle (agents:web). */
  web(id: string, body: Record<string, unknown>): Promise<unknown> {
    if (typeof body.web !== 'boolean') throw new HttpError(400, '`web` must be true or false');
    return callHandler(this.api.SetAgentWeb, { id: agentId(id), web: body.web, force: body.force === true });
  }
}
