/**
 * The control plane's `cluster logs` handler (control-plane/logs/logs-handler.ts) with stand-in
 * hosts: a followed `-n all` of two hosts whose first host's stream breaks while the merged
 * history is still sent. Its queued lines still come out (once), and when it is asked again its
 * history is cut after them: no line twice, every line in time order. And a follow resumed here
 * after a control-plane failover: a host is asked from the reader's place (every line it keeps),
 * and only a host asked again after its own stream broke gets the bounded ask. A host whose agent
 * registers again is asked at its new address at once, whatever this replica's mirror still shows.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { logsHandler } from '../../control-plane/logs/logs-handler';
import { Keys } from '../../control-plane/keys';
import { packLines, unpackLines } from '../../lib/log-packing';
import type { ApiContext } from '../../control-plane/rpc/context';
import type { AgentDialer } from '../../control-plane/agents/agent-dialer';
import type { LogBatch__Output } from '../../proto/gen/cluster/logs/LogBatch';
import type { LogsRequest } from '../../proto/gen/cluster/logs/LogsRequest';
import { waitFor } from '../helpers/wait-for';

/** A host's stream as grpc-js gives it to the handler. */
class FakeUpstream extends EventEmitter {
  cancel(): void {
    this.emit('cancelled');
  }
  pause(): void {}
  resume(): void {}
  send(times: number[], seqs: number[], historyDone = false): void {
    const packed = packLines(times.map((t, i) => ({ timeMs: t, seq: seqs[i]!, instance: 'web.1', stream: 'stdout', text: `t${t}`, cut: false })));
    const batch: LogBatch__Output = { lines: [], history_done: historyDone, warnings: [], packed, app: 'shop', host: '', history_lines: 0 };
    this.emit('data', batch);
  }
}

/** The reader's side of the call: what the handler writes. */
class FakeCall extends EventEmitter {
  readonly lines: string[] = [];
  historyDone = false;
  constructor(readonly request: unknown) {
    super();
  }
  write(batch: { packed?: Buffer; host?: string; history_done?: boolean }): boolean {
    if (batch.packed && batch.packed.length > 0) for (const l of unpackLines(batch.packed, 'shop', batch.host ?? '')) this.lines.push(`${l.host}:${l.text}`);
    if (batch.history_done) this.historyDone = true;
    return true;
  }
  end(): void {}
  sendMetadata(): void {}
}

/** Two stand-in hosts, host-a and host-b, that keep lines of `shop`: each Logs call to them is recorded with its request. */
function standInHosts() {
  const keys = new Keys();
  const agents = new Map(['host-a', 'host-b'].map((id) => [id, { id, address: `${id}:7601`, datacenter: 'dc', labels: {}, capacity: 10, version: 'x', registeredAtMs: 1, state: 'ready' }]));
  const streams = new Map<string, FakeUpstream[]>([['host-a', []], ['host-b', []]]);
  const requests = new Map<string, LogsRequest[]>([['host-a', []], ['host-b', []]]);
  /** The address each Logs call went to, per host. */
  const dialed = new Map<string, string[]>([['host-a', []], ['host-b', []]]);
  /** The registrations in etcd (this replica's mirror, `agents` above, may lag behind them). */
  const registered = new Map(agents);
  const watchers: EventEmitter[] = [];
  const client = {
    kv: { range: async () => ({ kvs: ['host-a', 'host-b'].map((id) => ({ key: Buffer.from(`${keys.logSources('shop')}${id}`) })), header: { revision: '7' } }) },
    get: (key: string) => ({ buffer: async () => {
      const record = [...registered.values()].find((r) => keys.agent(r.id) === key);
      return record ? Buffer.from(JSON.stringify(record)) : null;
    } }),
    watch: () => ({ prefix: () => ({ startRevision: () => ({ create: async () => {
      const watcher = Object.assign(new EventEmitter(), { cancel: async () => undefined });
      watchers.push(watcher);
      return watcher;
    } }) }) }),
  };
  /** A host puts its log-source record of `shop` (it registered again). */
  const putLogSource = (id: string) => {
    for (const w of watchers) w.emit('put', { key: Buffer.from(`${keys.logSources('shop')}${id}`) });
  };
  const ctx = {
    client,
    keys,
    // An apps mirror that has not reached the app's revision yet: it decides nothing.
    view: {
      agent: (id: string) => agents.get(id),
      isRegistered: (id: string) => agents.has(id),
      isLeaving: () => false,
      restartHold: () => undefined,
      apps: Object.assign(new EventEmitter(), { revision: 0 }),
    },
    store: { getAppVersion: async (name: string) => ({ app: { name, release: 1, deployed: 1, createdAtMs: 1 }, modRevision: 5 }) },
    metrics: { streamOpened: () => undefined, streamClosed: () => undefined },
    logger: { warn: () => undefined, debug: () => undefined, info: () => undefined, error: () => undefined },
  } as unknown as ApiContext;
  const dialer = {
    client: (agent: { id: string; address: string }) => ({
      Logs: (request: LogsRequest) => {
        requests.get(agent.id)!.push(request);
        dialed.get(agent.id)!.push(agent.address);
        const stream = new FakeUpstream();
        streams.get(agent.id)!.push(stream);
        return stream;
      },
    }),
  } as unknown as AgentDialer;
  return { ctx, dialer, streams, requests, dialed, registered, watchers, putLogSource };
}

describe('cluster logs -n all -f across hosts, a host asked again mid-history', () => {
  it('shows every line once and in time order', async () => {
    const { ctx, dialer, streams } = standInHosts();
    const call = new FakeCall({ app: 'shop', type: '', instance: '', host: '', lines: 0, follow: true, source: '', packed: true, all: true, resume_after: [], resume_since_ms: 0 });
    logsHandler(ctx, dialer)(call as never);
    await waitFor('both hosts asked', () => streams.get('host-a')!.length === 1 && streams.get('host-b')!.length === 1);
    const [a] = streams.get('host-a')!;
    const [b] = streams.get('host-b')!;
    a!.send([1, 2, 3, 4], [1, 2, 3, 4]);
    b!.send([5], [1]);
    // host-b's 5 waits: host-a, out of lines, may still send an older one.
    assert.deepEqual(call.lines, ['host-a:t1', 'host-a:t2', 'host-a:t3', 'host-a:t4']);
    a!.send([6, 7, 8, 9], [5, 6, 7, 8]); // 5 goes; these wait for host-b's next
    assert.deepEqual(call.lines.slice(4), ['host-b:t5']);
    a!.emit('error', Object.assign(new Error('Connection dropped'), { code: 14, details: 'Connection dropped' }));
    // Asked again (after 0.5 s): it sends its history again; what it queued before must not come twice.
    await waitFor('host-a asked again', () => streams.get('host-a')!.length === 2, 5_000);
    const again = streams.get('host-a')![1]!;
    again.send([1, 2, 3, 4, 6, 7, 8, 9], [1, 2, 3, 4, 5, 6, 7, 8], true);
    b!.send([10], [2], true);
    await waitFor('the history sent', () => call.historyDone);
    again.send([11], [9]);
    assert.deepEqual(call.lines, ['host-a:t1', 'host-a:t2', 'host-a:t3', 'host-a:t4', 'host-b:t5', 'host-a:t6', 'host-a:t7', 'host-a:t8', 'host-a:t9', 'host-b:t10', 'host-a:t11']);
    call.emit('cancelled');
  });
});

describe('cluster logs -f resumed through this control plane after a failover', () => {
  it('asks a host the reader had lines of from its place, with every line it keeps; one asked again after that, for its last 100,000', async () => {
    const { ctx, dialer, streams, requests } = standInHosts();
    const call = new FakeCall({ app: 'shop', type: '', instance: '', host: '', lines: 0, follow: true, source: '', packed: true, all: false, resume_after: [{ host: 'host-a', seq: 41 }], resume_since_ms: 1 });
    logsHandler(ctx, dialer)(call as never);
    await waitFor('both hosts asked', () => streams.get('host-a')!.length === 1 && streams.get('host-b')!.length === 1);
    assert.deepEqual(requests.get('host-a')![0]!.resume_after, [{ host: 'host-a', seq: 41 }]);
    // host-b's place is not known (the reader had none of its lines): cut by time here.
    assert.deepEqual(requests.get('host-b')![0]!.resume_after, []);
    const [a] = streams.get('host-a')!;
    a!.send([], [], true);
    a!.send([50, 51], [42, 43]);
    assert.deepEqual(call.lines, ['host-a:t50', 'host-a:t51']);
    // Its agent goes away and comes back: that is the case for the bounded ask (docs/logs.md).
    a!.emit('error', Object.assign(new Error('Connection dropped'), { code: 14, details: 'Connection dropped' }));
    await waitFor('host-a asked again', () => streams.get('host-a')!.length === 2, 5_000);
    const again = requests.get('host-a')![1]!;
    assert.deepEqual(again.resume_after, []);
    assert.equal(again.lines, 100_000);
    call.emit('cancelled');
  });
});

describe('cluster logs -f, a host whose agent registers again', () => {
  it('is asked at the address it registered, even while this replica\'s mirror still shows the one before', async () => {
    const { ctx, dialer, streams, dialed, registered, watchers, putLogSource } = standInHosts();
    const call = new FakeCall({ app: 'shop', type: '', instance: '', host: '', lines: 0, follow: true, source: '', packed: true, all: false, resume_after: [], resume_since_ms: 0 });
    logsHandler(ctx, dialer)(call as never);
    await waitFor('both hosts asked', () => streams.get('host-a')!.length === 1 && streams.get('host-b')!.length === 1);
    for (const host of ['host-a', 'host-b']) streams.get(host)![0]!.send([], [], true);
    await waitFor('the log sources watched', () => watchers.length === 1);
    // Its agent restarts: the stream breaks, and its next run registers on another port.
    streams.get('host-a')![0]!.emit('error', Object.assign(new Error('Connection dropped'), { code: 14, details: 'Connection dropped' }));
    registered.set('host-a', { ...registered.get('host-a')!, address: 'host-a:7700', registeredAtMs: 2 });
    // The registration put its log sources in the same transaction: the watch can fire before the mirror shows it.
    putLogSource('host-a');
    await waitFor('host-a asked again', () => streams.get('host-a')!.length === 2, 5_000);
    assert.deepEqual(dialed.get('host-a'), ['host-a:7601', 'host-a:7700']);
    call.emit('cancelled');
  });
});
