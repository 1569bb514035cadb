/** `--wait`: follows `ps` until every instance of some types is up, or says why it cannot be. */
import type { ClusterApiClient } from '../proto/gen/cluster/api/ClusterApi';
import type { InstanceInfo__Output } from '../proto/gen/cluster/api/InstanceInfo';
import type { RestartTokens__Output } from '../proto/gen/cluster/api/RestartTokens';
import { callUnary } from '../lib/grpc-call';
import { formatDuration as formatSpan } from '../lib/cron/duration';
import { parseInstanceName } from '../lib/names';
import { isOneOffType } from '../lib/one-off';
import { releaseRunName } from '../lib/release-phase';
import { RESTART_TOKEN_PART, restartTokenParts } from '../lib/restart-token';
import { ReachError, UserError } from './errors';
import { WaitReads } from './wait-reads';

/**
 * How long to wait between two polls. Each poll asks the control plane for the app's whole
 * `ps`; polled every 25 ms, a scale of 200 cost the machine enough that the processes came up
 * ~10-20 % later (bench/RESULTS.md). No worker can be up before 2 s (docs/boot-checks.md), and
 * ten updates a second are what a progress bar needs.
 */
const POLL_MS = 100;
/** An instance that crashed this many times while we waited is in a crash loop: give up. */
const CRASH_LOOP_RESTARTS = 3;

/** `restart --wait`: the restart's target ("" for the app, a type, or an instance) and its new token. */
export interface RestartGoal {
  target: string;
  token: string;
}

/** `ps:place --wait`: where the type's instances must run now (an agent with every label, in the datacenter when given). */
export interface PlacementGoal {
  type: string;
  labels: Record<string, string>;
  datacenter: string;
}

/** What else the instances must be, besides up. */
export interface FormationGoal {
  /** On this release (a deploy, config change or rollback rolling out). */
  release?: number;
  /** Restarted for this restart (only the target's instances count). */
  restart?: RestartGoal;
  /** On agents this placement rule allows (`ps` lists an instance once: an old copy still stopping elsewhere is not seen). */
  placement?: PlacementGoal;
}

/**
 * Waits until every instance of `types` (all types when undefined) is up, and what `goal` asks;
 * `timeoutMs` counts from `started` (a command that waits for several apps in turn gives one).
 */
export async function waitForFormation(
  api: ClusterApiClient,
  app: string,
  types: string[] | undefined,
  timeoutMs: number,
  { release, restart, placement }: FormationGoal = {},
  started = Date.now(),
): Promise<void> {
  const tty = process.stderr.isTTY === true;
  let lastLine = '';
  const show = (line: string) => {
    if (line === lastLine) return;
    lastLine = line;
    process.stderr.write(tty ? `\r\x1b[K${line}` : `${line}\n`);
  };
  // A replica restarting under the wait is waited out, not reported as the change failing.
  const reads = new WaitReads(`cluster ps -a ${app}`, show);
  const deadline = started + timeoutMs;
  let phaseDone = release === undefined;
  let goal = restart;
  let followed = false;
  // A restart of one instance waits for that instance alone.
  const one = restart && parseInstanceName(restart.target) ? restart.target : undefined;
  let wanted = 0;
  try {
    for (;;) {
      if (!phaseDone) {
        // The release command runs before anything rolls (docs/boot-checks.md#release-phase).
        const phase = await reads.read(() => releasePhaseOf(api, app, release!), deadline);
        if (phase.state === 'failed') {
          throw new UserError(`the release command of v${release} failed: ${phase.reason}; nothing rolled (see \`cluster logs -a ${app} --ps ${releaseRunName(release!)}\`)`);
        }
        if (phase.state === 'superseded') {
          throw new UserError(`v${release} will not roll: ${phase.reason} (see \`cluster releases -a ${app}\`)`);
        }
        phaseDone = phase.state === '' || phase.state === 'succeeded';
        if (!phaseDone) {
          show(`running the release command of v${release} (${releaseRunName(release!)}): ${phase.state}`);
          if (Date.now() - started > timeoutMs) throw new UserError(`timed out after ${formatSpan(timeoutMs)} waiting for the release command of v${release}`);
          await new Promise((resolve) => setTimeout(resolve, POLL_MS));
          continue;
        }
      }
      // States only: CPU and memory would be asked of every agent at each poll (docs/metrics.md).
      const ps = await reads.read(() => callUnary(api, 'Ps', { app, states_only: true }), deadline);
      if (ps.stale && ps.stale.stale_ms > 0) {
        // An old view says nothing about progress: wait for etcd, within the same timeout.
        show(`waiting: ${ps.stale.reason}`);
        if (Date.now() - started > timeoutMs) throw new ReachError(ps.stale.reason);
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
        continue;
      }
      if (goal) {
        goal = followRestart(ps.restart_tokens, goal, followed);
        followed = true;
      }
      const counted = (type: string) => (types ? types.includes(type) : !isOneOffType(type));
      const mine = ps.instances.filter((i) => (one ? i.name === one : counted(i.type || parseInstanceName(i.name)?.type || '')));
      if (one && mine.length === 0) {
        show(`${one} is no longer in the formation (scaled down): nothing to wait for`);
        return;
      }
      // A count kept for a type the current release dropped runs nothing: not waited for.
      const declared = (type: string) => ps.process_types.length === 0 || ps.process_types.includes(type);
      wanted = one ? 1 : ps.formation.filter((f) => counted(f.type) && declared(f.type)).reduce((n, f) => n + f.count, 0);
      const restarted = (i: InstanceInfo__Output) => goal === undefined || restartedFor(i, goal);
      const fits = placement ? await reads.read(() => fittingAgents(api, placement), deadline) : undefined;
      const done = (i: InstanceInfo__Output) =>
        i.state === 'up' && (release === undefined || i.release === release) && restarted(i) && (fits === undefined || fits.has(i.host));
      const { up, shownUp, stopping } = progressOf(mine, wanted, done);
      const pending = mine.filter((i) => i.state === 'pending');
      const bar = progressBar(shownUp, wanted);
      const on = restart ? 'restarted and up' : release !== undefined ? `up on v${release}` : placement ? 'up where the rule allows' : 'up';
      show(`${bar} ${shownUp}/${wanted} ${on}${stopping ? `, ${stopping} stopping` : ''}${pending.length ? `, ${pending.length} pending` : ''}`);
      if (up === wanted && stopping === 0) break;
      // A restart or a new release is what ends an old process's crash loop: only restarted
      // processes, and those on the release rolling out, count (a deploy that fixes a crash loop
      // finds the old release's instances crashed until the rollout reaches them).
      // What a scale-down is about to stop is not waited for, so its crash loop fails nothing.
      const kept = mine.filter((i) => inFormation(i, ps.formation));
      failIfStuck(pending, kept.filter((i) => restarted(i) && (release === undefined || i.release === release)));
      if (release !== undefined) {
        failIfSuperseded(mine, release, app);
        failIfRolloutFailed(kept, release);
      }
      if (Date.now() - started > timeoutMs) {
        throw new UserError(`timed out after ${formatSpan(timeoutMs)} with ${up} of ${wanted} instances ${on}`);
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  } finally {
    if (tty && lastLine) process.stderr.write('\n');
  }
  const took = ((Date.now() - started) / 1000).toFixed(1);
  if (wanted > 0) process.stderr.write(`All instances ${restart ? 'restarted and ' : ''}up in ${took} s.\n`);
  else process.stderr.write(`No instances to run: ${types ? `${types.join(', ')} ${types.length === 1 ? 'is' : 'are'}` : 'every process type is'} scaled to 0, and none is left running (${took} s).\n`);
}

/**
 * How far a wait is: instances `done`, the same at most `wanted` for display, and how many are
 * stopping. A scale-down lists the instances it has yet to stop, some still up until the leader
 * gets to them: they count as stopping, not as more up than wanted ("6/2 up").
 */
export function progressOf<T extends { state: string }>(mine: readonly T[], wanted: number, done: (i: T) => boolean): { up: number; shownUp: number; stopping: number } {
  const up = mine.filter(done).length;
  const stopping = Math.max(mine.filter((i) => i.state === 'stopping').length, mine.length - wanted);
  return { up, shownUp: Math.min(up, wanted), stopping };
}

/**
 * The restart to wait for: `goal`, or a later restart of the same target that replaced its token
 * (that one restarts every instance again). Throws when the control plane does not say at the
 * first poll (`followed`: an earlier poll did; a reply without tokens then keeps the goal: an
 * older replica answered during a rolling upgrade).
 */
export function followRestart(tokens: RestartTokens__Output | null, goal: RestartGoal, followed = false): RestartGoal {
  if (!tokens) {
    if (followed) return goal;
    throw new UserError('this control plane is of an older version that does not report restarts: the restart goes on, but --wait cannot follow it');
  }
  const current = tokens.by_target[goal.target || '*'];
  if (current === undefined || current === goal.token) return goal;
  process.stderr.write(`${goal.target || 'The app'} was restarted again meanwhile: following that restart.\n`);
  return { ...goal, token: current };
}

/** Whether the instance's process started with the restart's token (its part for the target: lib/restart-token.ts). */
export function restartedFor(i: InstanceInfo__Output, goal: RestartGoal): boolean {
  const part = goal.target === '' ? RESTART_TOKEN_PART.app : parseInstanceName(goal.target) ? RESTART_TOKEN_PART.instance : RESTART_TOKEN_PART.type;
  return restartTokenParts(i.restart_token)[part] === goal.token;
}

/**
 * The agents a placement rule lets the type run on, as the scheduler matches them
 * (control-plane/scheduler/placement.ts): every label, the datacenter when set, web on for `web`.
 * A drained agent that fits counts: what runs there and fits nowhere else stays (a drain's own
 * business, `agents:drain --wait`).
 */
async function fittingAgents(api: ClusterApiClient, rule: PlacementGoal): Promise<Set<string>> {
  const { agents } = await callUnary(api, 'ListAgents', {});
  const fit = agents.filter(
    (a) =>
      (!rule.datacenter || a.datacenter === rule.datacenter) &&
      (rule.type !== 'web' || a.web) &&
      Object.entries(rule.labels).every(([k, v]) => Object.hasOwn(a.labels, k) && a.labels[k] === v),
  );
  return new Set(fit.map((a) => a.id));
}

async function releasePhaseOf(api: ClusterApiClient, app: string, version: number): Promise<{ state: string; reason: string }> {
  const { releases } = await callUnary(api, 'ListReleases', { app });
  const release = releases.find((r) => r.version === version);
  return { state: release?.phase ?? '', reason: release?.phase_reason ?? '' };
}

function failIfStuck(pending: InstanceInfo__Output[], all: InstanceInfo__Output[]): void {
  // `waiting for …` (the scheduler, agents reconnecting to a control plane that just started) passes.
  const unplaceable = pending.find((i) => i.reason && !i.reason.startsWith('waiting for '));
  if (unplaceable) {
    throw new UserError(`${pending.length} instance(s) cannot be placed: ${unplaceable.reason} (e.g. ${unplaceable.name})`);
  }
  const looping = all.find((i) => i.state === 'crashed' && i.restarts >= CRASH_LOOP_RESTARTS);
  if (looping) {
    throw new UserError(`${looping.name} is crash-looping on ${looping.host}: ${looping.reason}; see \`cluster ps\``);
  }
}

/** Whether `i` is within its type's count (`worker.3` with `worker=2` is being scaled down). */
function inFormation(i: InstanceInfo__Output, formation: ReadonlyArray<{ type: string; count: number }>): boolean {
  const name = parseInstanceName(i.name);
  if (!name) return true;
  return name.number <= (formation.find((f) => f.type === name.type)?.count ?? 0);
}

/**
 * A release made after ours and running on an instance: the leader rolls that one now, and ours
 * never finishes (two deploys or config changes at once). Its own release phase, if any, is
 * over: a newer release still in its phase leaves ours rolling.
 */
function failIfSuperseded(all: InstanceInfo__Output[], release: number, app: string): void {
  const newer = all.reduce((v, i) => Math.max(v, i.release), 0);
  if (newer > release) {
    throw new UserError(`v${release} will not finish rolling out: v${newer} was made meanwhile and rolls out instead (see \`cluster releases -a ${app}\`, \`cluster ps -a ${app}\`)`);
  }
}

/**
 * A new release fails its rollout when one of its instances crashes or fails its boot check
 * (docs/boot-checks.md): the leader stops rolling that type, so waiting longer changes nothing.
 */
function failIfRolloutFailed(all: InstanceInfo__Output[], release: number): void {
  const failed = all.find((i) => i.release === release && (i.state === 'crashed' || i.restarts > 0));
  if (failed) {
    throw new UserError(
      `${failed.name} failed on v${release} (${failed.host}): ${failed.reason}; the rollout stopped there and instances not rolled yet keep their release (see \`cluster ps\`, \`cluster logs --ps ${failed.name}\`)`,
    );
  }
}

function progressBar(done: number, total: number, width = 20): string {
  const filled = total === 0 ? width : Math.round((done / total) * width);
  return `[${'#'.repeat(Math.min(width, filled))}${'.'.repeat(Math.max(0, width - filled))}]`;
}
