/**
 * The control plane's logs fan-out against a real etcd and fake agents: the history is
 * merged across hosts, and when the CLI goes away every upstream stream is cancelled.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { ControlPlane } from '../../control-plane/control-plane';
import { createLogger } from '../../lib/log';
import { callUnary } from '../../lib/grpc-call';
import { agentProto, apiProto } from '../../proto/load';
import type { LogBatch__Output } from '../../proto/gen/cluster/logs/LogBatch';
import { Keys } from '../../control-plane/keys';
import { uniquePrefix, exitWhenDone, useEtcd } from '../helpers/etcd';
import { waitFor } from '../helpers/wait-for';

const logger = createLogger('test', 'silent');

/**
 * An agent log service that sends a fixed history, then a live line every 20 ms until cancelled.
 * With `holdHistory`, it sends nothing until that settles: a host that answers (pings too) but is
 * slow to read its history.
 */
async function fakeAgent(times: number[], holdHistory?: Promise<void>): Promise<{ address: string; open: () => number; cancelled: () => number; close: () => void }> {
  let open = 0;
  let cancelled = 0;
  const server = new grpc.Server();
  server.addService(agentProto().AgentLogs.service, {
    Logs: (call: grpc.ServerWritableStream<{ app: string }, unknown>) => {
      open += 1;
      const line = (t: number) => ({ time_ms: t, seq: t, app: call.request.app, instance: 'web.1', stream: 'stdout', text: `t${t}` });
      let timer: NodeJS.Timeout | undefined;
      let gone = false;
      call.on('cancelled', () => {
        gone = true;
        cancelled += 1;
        clearInterval(timer);
      });
      const send = () => {
        if (gone) return;
        call.write({ lines: times.map(line), history_done: true });
        timer = setInterval(() => call.write({ lines: [line(Date.now())] }), 20);
      };
      if (holdHistory) holdHistory.then(send, () => undefined);
      else send();
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  return { address: `127.0.0.1:${port}`, open: () => open, cancelled: () => cancelled, close: () => server.forceShutdown() };
}

exitWhenDone();

describe('logs fan-out', { timeout: 60_000 }, () => {
  const etcd = useEtcd();

  it('merges history across hosts and cancels every upstream when the client goes away', async () => {
    const plane = await ControlPlane.start({ etcd: [etcd.url], listen: '127.0.0.1:0', dataDir: etcd.dataDir, prefix: uniquePrefix(), logger });
    const agents = [await fakeAgent([1, 4, 7]), await fakeAgent([2, 5, 8])];
    const agentApi = new (agentProto().AgentApi)(plane.address, grpc.credentials.createInsecure());
    const api = new (apiProto().ClusterApi)(plane.address, grpc.credentials.createInsecure());
    try {
      await callUnary(api, 'CreateApp', { name: 'shop' });
      for (const [i, fake] of agents.entries()) {
        // Registering with log_apps tells the control plane this host keeps lines of `shop`.
        await callUnary(agentApi, 'Register', { agent_id: `fake-${i}`, address: fake.address, log_apps: ['shop'] });
      }
      await waitFor('both agents known', async () => (await callUnary(api, 'ListAgents', {})).agents.length === 2);

      const call = api.Logs({ app: 'shop', lines: 4, follow: true });
      const batches: LogBatch__Output[] = [];
      call.on('data', (b: LogBatch__Output) => batches.push(b));
      call.on('error', () => undefined);
      await waitFor('history and some live lines', () => {
        const done = batches.findIndex((b) => b.history_done);
        return done >= 0 && batches.slice(done + 1).some((b) => b.lines.length > 0);
      });
      const done = batches.findIndex((b) => b.history_done);
      const history = batches.slice(0, done + 1).flatMap((b) => b.lines);
      assert.deepEqual(history.map((l) => [l.text, l.host]), [['t4', 'fake-0'], ['t5', 'fake-1'], ['t7', 'fake-0'], ['t8', 'fake-1']]);
      assert.deepEqual(agents.map((a) => a.open()), [1, 1]);

      call.cancel();
      await waitFor('every upstream stream to be cancelled', () => agents.every((a) => a.cancelled() === 1), 5_000);
    } finally {
      agentApi.close();
      api.close();
      for (const a of agents) a.close();
      await plane.close();
    }
  });

  it('asks a host that registered a moment ago, and names one that keeps lines but is not registered', async () => {
    const prefix = uniquePrefix();
    const plane = await ControlPlane.start({ etcd: [etcd.url], listen: '127.0.0.1:0', dataDir: etcd.dataDir, prefix, logger });
    const fakes: Array<Awaited<ReturnType<typeof fakeAgent>>> = [];
    const agentApi = new (agentProto().AgentApi)(plane.address, grpc.credentials.createInsecure());
    const api = new (apiProto().ClusterApi)(plane.address, grpc.credentials.createInsecure());
    try {
      await callUnary(api, 'CreateApp', { name: 'shop' });
      // A log source whose agent is gone (its lease not expired yet, say): named, not silently left out.
      await etcd.client.put(new Keys(prefix).logSource('shop', 'ghost')).value('');
      for (let i = 0; i < 5; i++) {
        const fake = await fakeAgent([i]);
        fakes.push(fake);
        await callUnary(agentApi, 'Register', { agent_id: `new-${i}`, address: fake.address, log_apps: ['shop'] });
        // At once: this replica's mirror of agents may not show it yet; etcd does.
        const batches = await new Promise<LogBatch__Output[]>((resolve, reject) => {
          const got: LogBatch__Output[] = [];
          const call = api.Logs({ app: 'shop', lines: 100, host: `new-${i}` });
          call.on('data', (b: LogBatch__Output) => got.push(b));
          call.on('end', () => resolve(got));
          call.on('error', reject);
        });
        assert.deepEqual(batches.flatMap((b) => b.lines).map((l) => l.text), [`t${i}`], `new-${i}'s history`);
        assert.deepEqual(batches.flatMap((b) => b.warnings), []);
      }
      const all = await new Promise<LogBatch__Output[]>((resolve, reject) => {
        const got: LogBatch__Output[] = [];
        const call = api.Logs({ app: 'shop', lines: 100 });
        call.on('data', (b: LogBatch__Output) => got.push(b));
        call.on('end', () => resolve(got));
        call.on('error', reject);
      });
      assert.deepEqual(all.flatMap((b) => b.lines).map((l) => l.text).sort(), ['t0', 't1', 't2', 't3', 't4']);
      const warnings = all.flatMap((b) => b.warnings);
      assert.equal(warnings.length, 1, warnings.join('\n'));
      assert.match(warnings[0]!, /host ghost keeps lines of `shop` but is not registered now/);
    } finally {
      agentApi.close();
      api.close();
      for (const f of fakes) f.close();
      await plane.close();
    }
  });

  it('leaves out the history of a host that sends none within 10 s, says so, and follows its live lines', async () => {
    const plane = await ControlPlane.start({ etcd: [etcd.url], listen: '127.0.0.1:0', dataDir: etcd.dataDir, prefix: uniquePrefix(), logger });
    let release = () => undefined as void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const agents = [await fakeAgent([1, 3]), await fakeAgent([2, 4], held)];
    const agentApi = new (agentProto().AgentApi)(plane.address, grpc.credentials.createInsecure());
    const api = new (apiProto().ClusterApi)(plane.address, grpc.credentials.createInsecure());
    try {
      await callUnary(api, 'CreateApp', { name: 'shop' });
      for (const [i, fake] of agents.entries()) {
        await callUnary(agentApi, 'Register', { agent_id: ['quick', 'slow'][i], address: fake.address, log_apps: ['shop'] });
      }
      await waitFor('both agents known', async () => (await callUnary(api, 'ListAgents', {})).agents.length === 2);

      const startedMs = Date.now();
      const call = api.Logs({ app: 'shop', lines: 10, follow: true });
      const batches: LogBatch__Output[] = [];
      call.on('data', (b: LogBatch__Output) => batches.push(b));
      call.on('error', () => undefined);
      const done = await waitFor('the end of the history', () => batches.find((b) => b.history_done), 20_000);
      assert.ok(Date.now() - startedMs >= 9_500, 'the history waits 10 s for the slow host');
      const history = batches.slice(0, batches.indexOf(done) + 1);
      assert.deepEqual(history.flatMap((b) => b.lines).map((l) => [l.text, l.host]), [['t1', 'quick'], ['t3', 'quick']]);
      assert.deepEqual(history.flatMap((b) => b.warnings), ['host slow sent no history within 10 s: its history is left out, its live lines follow']);

      release();
      await waitFor('the slow host\'s live lines', () => batches.some((b) => b.lines.some((l) => l.host === 'slow')), 10_000);
      const slowLines = batches.flatMap((b) => b.lines).filter((l) => l.host === 'slow').map((l) => l.text);
      assert.ok(!slowLines.includes('t2') && !slowLines.includes('t4'), `late history left out: ${slowLines.slice(0, 5).join(' ')}`);
      call.cancel();
    } finally {
      agentApi.close();
      api.close();
      for (const a of agents) a.close();
      await plane.close();
    }
  });
});
