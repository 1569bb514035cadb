/**
 * Malformed requests straight over gRPC, past the CLI's checks: every handler of both daemons
 * answers a fitting status whose message names the problem, the daemon stays up, writes nothing
 * half-way, and serves the next normal call.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { TestCluster } from '../helpers/test-cluster';
import { agentProto, apiProto, CHANNEL_OPTIONS, slugsProto } from '../../proto/load';
import { callUnary } from '../../lib/grpc-call';

const { INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION } = grpc.status;
const HUGE = 'x'.repeat(200_000);
/** A message quoting HUGE whole broke the caller's connection (lib/status-reason.ts bounds them). */
const MAX_MESSAGE = 10_000;

type Target = 'api' | 'agents' | 'slugs' | 'agentRun' | 'agentLogs' | 'agentStats';
type Shape = 'unary' | 'server' | 'client' | 'bidi';

/** One malformed call: the codes it may fairly end with and what its message must name. */
interface Case {
  target: Target;
  shape: Shape;
  method: string;
  /** The request, or a stream's messages (written, then half-closed). */
  request: unknown;
  codes: grpc.status[];
  names: RegExp;
}

type Outcome = { code: grpc.status; details: string };

function unary(client: grpc.Client, method: string, request: unknown): Promise<Outcome> {
  return new Promise((resolve) => {
    const fn = (client as unknown as Record<string, (r: unknown, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null) => void) => void>)[method]!;
    fn.call(client, request, { deadline: Date.now() + 10_000 }, (err) => resolve(err ? { code: err.code, details: err.details } : { code: grpc.status.OK, details: '' }));
  });
}

/** A server stream: its final status, reading (and dropping) whatever it sends. */
function serverStream(client: grpc.Client, method: string, request: unknown): Promise<Outcome> {
  return new Promise((resolve) => {
    const fn = (client as unknown as Record<string, (r: unknown, o: grpc.CallOptions) => grpc.ClientReadableStream<unknown>>)[method]!;
    const call = fn.call(client, request, { deadline: Date.now() + 10_000 });
    call.on('data', () => undefined);
    call.on('error', () => undefined);
    call.on('status', (s: grpc.StatusObject) => resolve({ code: s.code, details: s.details }));
  });
}

/** A client or bidi stream fed `messages`, then half-closed: its final status. */
function clientStream(client: grpc.Client, method: string, messages: unknown[], bidi: boolean): Promise<Outcome> {
  return new Promise((resolve) => {
    const fn = (client as unknown as Record<string, (...a: unknown[]) => grpc.ClientWritableStream<unknown>>)[method]!;
    const options = { deadline: Date.now() + 10_000 };
    const call = bidi
      ? fn.call(client, options)
      : fn.call(client, options, (err: grpc.ServiceError | null) => resolve(err ? { code: err.code, details: err.details } : { code: grpc.status.OK, details: '' }));
    call.on('error', () => undefined);
    if (bidi) {
      (call as unknown as grpc.ClientDuplexStream<unknown, unknown>).on('data', () => undefined);
      call.on('status', (s: grpc.StatusObject) => resolve({ code: s.code, details: s.details }));
    }
    for (const m of messages) call.write(m);
    call.end();
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const many = <T>(n: number, f: (i: number) => T): T[] => Array.from({ length: n }, (_, i) => f(i));
const app = 'shop';
const names = (target: Target, shape: Shape, method: string, request: unknown, codes: grpc.status[], pattern: RegExp): Case =>
  ({ target, shape, method, request, codes, names: pattern });
const api = (method: string, request: unknown, codes: grpc.status[], pattern: RegExp) => names('api', 'unary', method, request, codes, pattern);
const BAD = [INVALID_ARGUMENT];
const BAD_OR_MISSING = [INVALID_ARGUMENT, NOT_FOUND];

const CASES: Case[] = [
  // The CLI's API (ClusterApi).
  api('CreateApp', {}, BAD, /invalid app name ``/),
  api('CreateApp', { name: HUGE }, BAD, /invalid app name `x+… \(\d+ more characters cut\)/),
  api('DestroyApp', { name: '' }, BAD, /invalid app name/),
  api('ListReleases', { app: '' }, BAD, /invalid app name/),
  api('Rollback', { app, version: -5 }, BAD, /-5/),
  api('Rollback', { app, version: 2147483647 }, [NOT_FOUND], /v2147483647/),
  api('GetConfig', { app: '../x' }, BAD, /`\.\.\/x`/),
  api('SetConfig', { app, set: { '': 'x' } }, BAD, /config key ``/),
  api('SetConfig', { app, set: { 'A=B': 'x' } }, BAD, /`A=B`/),
  api('SetConfig', { app, unset: [''] }, BAD, /config key ``/),
  // A NUL byte can be stored but never started with (exec() takes C strings): refused, named.
  api('SetConfig', { app, set: { NULLY: 'a\0b' } }, BAD, /config var `NULLY` has a NUL byte \(character 2\)/),
  api('SetConfig', { app, set: { 'A\0B': 'x' } }, BAD, /invalid config key `A\\0B`/),
  api('SetConfig', { app, set: Object.fromEntries(many(20_000, (i) => [`K${i}`, 'v'])) }, BAD, /20000 config vars; at most 1000/),
  api('Scale', { app, changes: [{ type: 'worker', count: -1 }] }, BAD, /worker=-1/),
  api('Scale', { app, changes: [{ type: 'worker', count: 2147483647 }] }, BAD, /at most 1000/),
  api('Scale', { app, changes: [{ type: 'worker', count: -2147483648, relative: true }] }, BAD, /below 0/),
  api('Scale', { app, changes: [{ type: '', count: 1 }] }, BAD, /process type ``/),
  api('Scale', { app, changes: [] }, BAD, /nothing to scale/),
  api('Scale', { app, changes: many(5000, () => ({ type: 'worker', count: 1 })) }, BAD, /worker=1: process type `worker` is already given as worker=1/),
  api('Ps', { app: HUGE }, BAD, /invalid app name/),
  api('Restart', { app, target: '../x' }, BAD_OR_MISSING, /`\.\.\/x`/),
  api('Restart', { app, target: 'worker.-1' }, BAD_OR_MISSING, /worker\.-1/),
  api('Restart', { app, target: 'worker.99999999999999999999' }, BAD_OR_MISSING, /worker\.9+/),
  api('SetGrace', { app, settings: [{ type: 'worker', seconds: NaN }] }, BAD, /worker=NaN/),
  api('SetGrace', { app, settings: [{ type: 'worker', seconds: Infinity }] }, BAD, /worker=Infinity/),
  api('SetGrace', { app, settings: [{ type: 'worker', seconds: -1 }] }, BAD, /worker=-1/),
  api('SetGrace', { app, settings: [{ type: '', seconds: 3 }] }, BAD, /process type ``/),
  api('SetBootTimeout', { app, settings: [{ type: 'web', seconds: NaN }] }, BAD, /web=NaN/),
  api('SetBootTimeout', { app, settings: [{ type: 'web', seconds: 1e300 }] }, BAD, /web=1e\+300/),
  api('SetLogMode', { app, settings: [{ type: 'web', mode: 'bogus' }] }, BAD, /web=bogus/),
  api('SetLogMode', { app, settings: [{ type: '', mode: 'blocking' }] }, BAD, /process type ``/),
  api('GetTypeSettings', { app: '' }, BAD, /invalid app name/),
  api('StopInstance', { app, instance: '' }, BAD, /`` is not an instance name/),
  api('StopInstance', { app, instance: 'run.abc' }, BAD, /`run\.abc`/),
  api('CreateToken', { kind: 'bogus', ttl_seconds: NaN }, BAD, /token kind `bogus`/),
  api('CreateToken', { kind: 'agent', labels: Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`k${i + 1}`, 'v'])) }, BAD, /101 labels; an agent carries at most 100/),
  api('DrainAgent', { id: '' }, BAD, /invalid agent id ``/),
  api('ActivateAgent', { id: HUGE }, BAD, /invalid agent id/),
  api('SetAgentWeb', { id: '' }, BAD, /invalid agent id ``/),
  api('RemoveAgent', { id: '../host-a' }, BAD, /`\.\.\/host-a`/),
  api('SetPlacement', { app, rules: [{ type: '' }] }, BAD, /process type ``/),
  api('SetPlacement', { app, rules: [{ type: 'worker', labels: { '': 'x' } }] }, BAD, /label key ``/),
  api('SetPlacement', { app, rules: [{ type: 'worker', labels: Object.fromEntries(many(5000, (i) => [`k${i}`, 'v'])) }] }, BAD, /5000 labels; at most 20/),
  api('SetPlacement', { app, rules: many(5000, () => ({ type: 'worker' })) }, BAD, /`worker` is given twice/),
  api('GetPlacement', { app: '' }, BAD, /invalid app name/),
  api('AddSchedule', { app, schedule: 'garbage', command: 'true' }, BAD, /`garbage`/),
  api('AddSchedule', { app, schedule: '@hourly', command: '' }, BAD, /no command/),
  api('AddSchedule', { app, schedule: '@hourly', command: 'echo \0hi' }, BAD, /the command has a NUL byte \(character 6\)/),
  api('AddSchedule', { app, schedule: '@hourly', command: 'true', time_zone: 'Mars/Olympus' }, BAD, /`Mars\/Olympus`/),
  api('AddSchedule', { app, schedule: '@hourly', command: 'true', concurrency: 'bogus' }, BAD, /`bogus`/),
  api('AddSchedule', { app, schedule: '@hourly', command: 'true', timeout_ms: NaN }, BAD, /invalid timeout/),
  api('AddSchedule', { app, schedule: '@hourly', command: 'true', timeout_ms: -1 }, BAD, /invalid timeout/),
  api('AddSchedule', { app, schedule: '@hourly', command: 'true', starting_deadline_ms: NaN }, BAD, /invalid starting deadline/),
  api('AddSchedule', { app, schedule: '@hourly', command: 'true', starting_deadline_ms: Infinity }, BAD, /invalid starting deadline/),
  api('AddSchedule', { app, schedule: '@every 0s', command: 'true' }, BAD, /at least 1s/),
  api('AddSchedule', { app, name: '../x', schedule: '@hourly', command: 'true' }, BAD, /job name `\.\.\/x`/),
  api('ListSchedules', { app: '' }, BAD, /invalid app name/),
  api('RemoveSchedule', { app, name: '' }, BAD, /job name ``/),
  api('FireSchedule', { app, name: '../x' }, BAD, /job name `\.\.\/x`/),
  api('CreateDashboardLink', { ttl_seconds: NaN }, [FAILED_PRECONDITION], /serves no dashboard/),
  names('api', 'server', 'Logs', { app: '' }, BAD, /invalid app name/),
  names('api', 'server', 'Logs', { app, lines: -5 }, BAD, /-n -5/),
  names('api', 'server', 'Logs', { app, source: 'bogus' }, BAD, /source `bogus`/),
  names('api', 'server', 'Logs', { app, instance: '../x' }, BAD, /instance `\.\.\/x`/),
  names('api', 'server', 'Logs', { app, follow: true, resume_since_ms: NaN }, BAD, /resume_since_ms NaN/),
  names('api', 'server', 'Logs', { app, follow: true, resume_since_ms: 1, resume_after: many(5000, (i) => ({ host: `h${i}`, seq: -1 })) }, BAD, /seq -1/),
  names('api', 'bidi', 'Run', [{ stdin: Buffer.from('x') }], BAD, /first message of a run must be `start`/),
  names('api', 'bidi', 'Run', [], BAD, /ended before its `start`/),
  names('api', 'bidi', 'Run', [{ start: { app: '', command: 'true' } }], BAD, /invalid app name/),
  names('api', 'bidi', 'Run', [{ start: { app, command: ' ' } }], BAD, /no command/),
  names('api', 'bidi', 'Run', [{ start: { app, command: 'true', tty: true, window: { rows: -1, cols: 99999999 } } }], BAD, /window size/),
  names('api', 'bidi', 'Run', [{ start: { app, command: 'echo \0hi' } }], BAD, /the command has a NUL byte \(character 6\)/),
  names('api', 'client', 'Deploy', [{ data: Buffer.from('x') }], BAD, /slug data before its metadata/),
  names('api', 'client', 'Deploy', [], BAD, /no metadata/),
  names('api', 'client', 'Deploy', [{ meta: { app, procfile: 'web: x', size: '-1' } }], BAD, /deploy size -1/),
  names('api', 'client', 'Deploy', [{ meta: { app, procfile: 'web: x', size: '9223372036854775807' } }, { data: Buffer.from('abc') }], BAD, /deploy size 9223372036854775807/),
  names('api', 'client', 'Deploy', [{ meta: { app, procfile: 'web: x', size: '3' } }, { data: Buffer.from('abcdef') }], BAD, /got 6 of 3 bytes/),
  names('api', 'client', 'Deploy', [{ meta: { app, procfile: 'web: x', size: '3' } }, { meta: { app } }], BAD, /metadata twice/),
  names('api', 'client', 'Deploy', [{ meta: { app, procfile: 'web: x', size: '3', release_timeout_s: NaN } }], BAD, /--release-timeout NaN/),
  names('api', 'client', 'Deploy', [{ meta: { app, procfile: '\u0000\uffff', size: '3' } }], BAD, /Procfile line 1/),
  names('api', 'client', 'Deploy', [{ meta: { app, procfile: 'worker: echo \0hi; sleep 100', size: '3' } }], BAD, /process type `worker` has a NUL byte/),

  // The agents' service (AgentApi) on the control plane.
  names('agents', 'unary', 'Register', {}, BAD, /invalid agent id ``/),
  names('agents', 'unary', 'Register', { agent_id: 'evil', address: '' }, BAD, /listen_port/),
  names('agents', 'unary', 'Register', { agent_id: 'evil', address: '127.0.0.1:1', labels: Object.fromEntries(many(5000, (i) => [`k${i}`, 'v'])) }, BAD, /5000 labels; an agent carries at most 100/),
  names('agents', 'unary', 'Register', { agent_id: 'evil', address: '127.0.0.1:1', capacity: -1 }, BAD, /capacity -1: give 0 \(the default\) or a whole number from 1 to 65535/),
  names('agents', 'unary', 'Register', { agent_id: 'evil', address: '127.0.0.1:1', capacity: 2 ** 31 - 1 }, BAD, /capacity 2147483647: .* 1 to 65535/),
  names('agents', 'unary', 'Register', { agent_id: 'evil', address: '127.0.0.1:1', ports: -5 }, BAD, /ports -5: give 0 \(the default\) or a whole number from 1 to 65535/),
  names('agents', 'unary', 'Register', { agent_id: 'evil', address: '127.0.0.1:1', ports: 70_000 }, BAD, /ports 70000: /),
  names('agents', 'unary', 'Heartbeat', {}, BAD, /invalid agent id ``/),
  names('agents', 'unary', 'ReportStatus', { agent_id: 'host-a', lease_id: '-1', statuses: many(5000, (i) => ({ app, instance: `worker.${i}`, state: 'bogus' })) }, BAD, /malformed instance `shop\/worker\.0`/),
  names('agents', 'unary', 'GetRelease', { app: '', release: -1 }, BAD, /invalid app name/),
  names('agents', 'server', 'WatchAssignments', { agent_id: '' }, BAD, /invalid agent id ``/),
  names('agents', 'server', 'FetchSlug', { digest: '../../etc/passwd' }, BAD, /malformed slug digest/),
  names('agents', 'bidi', 'Heartbeats', [{}, { agent_id: 'host-a', lease_id: 'zz' }], BAD, /invalid agent id ``/),

  // Slug replication between control-plane replicas.
  names('slugs', 'server', 'FetchSlug', { digest: '../x' }, BAD, /malformed slug digest `\.\.\/x`/),
  names('slugs', 'unary', 'PullSlug', { digest: '../x', sources: ['nowhere:1'], size: '-1' }, BAD, /malformed slug digest/),
  names('slugs', 'unary', 'PullSlug', { digest: 'a'.repeat(64), sources: many(3000, () => 'nowhere:1'), size: '9223372036854775807' }, BAD, /slug size/),

  // An agent's own services.
  names('agentLogs', 'server', 'Logs', { app: '' }, BAD, /invalid app name ``/),
  names('agentLogs', 'server', 'Logs', { app, lines: -1 }, BAD, /lines -1/),
  names('agentLogs', 'server', 'Logs', { app, source: 'bogus' }, BAD, /source `bogus`/),
  names('agentLogs', 'server', 'Logs', { app, instance: '../x' }, BAD, /instance `\.\.\/x`/),
  names('agentRun', 'server', 'WatchRun', { app, instance: '../x' }, [NOT_FOUND], /shop\/\.\.\/x/),
  names('agentRun', 'bidi', 'Run', [], BAD, /ended before its `start`/),
  names('agentRun', 'bidi', 'Run', [{ signal: 'SIGKILL' }], BAD, /first message of a run must be `start`/),
  names('agentRun', 'bidi', 'Run', [{ start: { app, instance: 'run.9001', command: 'true', timeout_ms: NaN } }], BAD, /timeout_ms NaN/),
  names('agentRun', 'bidi', 'Run', [{ start: { app, instance: 'run.9002', command: 'true', timeout_ms: 1e20 } }], BAD, /timeout_ms 100000000000000000000/),
  names('agentRun', 'bidi', 'Run', [{ start: { app, instance: '../x', command: 'true' } }], BAD, /one-off instance name `\.\.\/x`/),
];

function call(client: grpc.Client, c: Case): Promise<Outcome> {
  if (c.shape === 'unary') return unary(client, c.method, c.request);
  if (c.shape === 'server') return serverStream(client, c.method, c.request);
  return clientStream(client, c.method, c.request as unknown[], c.shape === 'bidi');
}

describe('malformed requests', { timeout: 120_000 }, () => {
  let cluster: TestCluster;
  const clients = new Map<Target, grpc.Client>();
  const daemonsAlive = () => {
    assert.ok(alive(cluster.controlPlane!.pid), 'the control plane is still running');
    assert.ok(alive(cluster.agents.get('host-a')!.pid), 'the agent is still running');
  };

  before(async () => {
    cluster = await TestCluster.start({ agents: [{ id: 'host-a' }] });
    await cluster.deployProcfile(app, 'web: sleep 1000\nworker: sleep 1000\n');
    const insecure = grpc.credentials.createInsecure();
    clients.set('api', new (apiProto().ClusterApi)(cluster.server, insecure, CHANNEL_OPTIONS));
    clients.set('agents', new (agentProto().AgentApi)(cluster.server, insecure, CHANNEL_OPTIONS));
    clients.set('slugs', new (slugsProto().SlugReplication)(cluster.server, insecure, CHANNEL_OPTIONS));
    const { agents } = await cluster.cliJson<{ agents: Array<{ id: string; address: string }> }>(['agents']);
    const address = agents.find((a) => a.id === 'host-a')!.address;
    clients.set('agentRun', new (agentProto().AgentRun)(address, insecure, CHANNEL_OPTIONS));
    clients.set('agentLogs', new (agentProto().AgentLogs)(address, insecure, CHANNEL_OPTIONS));
    clients.set('agentStats', new (agentProto().AgentStats)(address, insecure, CHANNEL_OPTIONS));
  });

  after(async () => {
    for (const c of clients.values()) c.close();
    await cluster?.stop();
  });

  for (const c of CASES) {
    it(`${c.target} ${c.method} ${JSON.stringify(c.request).slice(0, 100)}: ${c.codes.map((code) => grpc.status[code]).join(' or ')} naming the problem`, async () => {
      const got = await call(clients.get(c.target)!, c);
      assert.ok(c.codes.includes(got.code), `${grpc.status[got.code]}: ${got.details.slice(0, 300)}`);
      assert.match(got.details, c.names);
      assert.ok(got.details.length < MAX_MESSAGE, `a message of ${got.details.length} characters`);
    });
  }

  it('refuses a deploy cancelled half-way, and a log follow nobody reads, without a release or a stuck daemon', async () => {
    const deploy = (clients.get('api') as unknown as Record<string, (o: grpc.CallOptions, cb: (e: grpc.ServiceError | null) => void) => grpc.ClientWritableStream<unknown>>).Deploy!;
    const cancelled = await new Promise<grpc.status>((resolve) => {
      const stream = deploy.call(clients.get('api'), { deadline: Date.now() + 10_000 }, (e) => resolve(e ? e.code : grpc.status.OK));
      stream.write({ meta: { app, procfile: 'web: x', size: '1000000' } });
      stream.write({ data: Buffer.alloc(64 * 1024) }, () => stream.cancel());
    });
    assert.equal(cancelled, grpc.status.CANCELLED);
    // A follow whose reader never reads: the daemon keeps serving others.
    const logs = (clients.get('api') as unknown as Record<string, (r: unknown) => grpc.ClientReadableStream<unknown>>).Logs!.call(clients.get('api'), { app, follow: true, lines: 1000 });
    logs.pause();
    logs.on('error', () => undefined);
    try {
      daemonsAlive();
      assert.equal((await unary(clients.get('api')!, 'ListApps', {})).code, grpc.status.OK);
    } finally {
      logs.cancel();
    }
  });

  it('is still running both daemons, serves normal calls, and wrote nothing of the refused requests', async () => {
    daemonsAlive();
    const api = cluster.api;
    const apps = await callUnary(api, 'ListApps', {});
    assert.deepEqual(apps.apps.map((a) => a.name), [app]);
    const releases = await callUnary(api, 'ListReleases', { app });
    assert.deepEqual(releases.releases.map((r) => r.version), [1], 'no release from a refused deploy');
    assert.deepEqual((await callUnary(api, 'GetConfig', { app })).vars, {});
    assert.deepEqual((await callUnary(api, 'ListSchedules', { app })).schedules, []);
    assert.deepEqual((await callUnary(api, 'GetPlacement', { app })).rules, []);
    const ps = await callUnary(api, 'Ps', { app });
    assert.deepEqual(ps.formation.map((f) => `${f.type}=${f.count}`).sort(), ['web=1']);
    assert.deepEqual((await callUnary(api, 'ListAgents', {})).agents.map((a) => a.id), ['host-a'], 'no agent registered by a refused request');
    const usage = await unary(clients.get('agentStats')!, 'Usage', { app });
    assert.equal(usage.code, grpc.status.OK, usage.details);
  });
});
