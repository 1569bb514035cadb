/**
 * Hosts that go away and come back, against a real etcd and fake agents that keep their lines
 * in a shared "disk": a host stays a log source after its agent's lease expires (named, not
 * silently left out) until its own log-source lease does, and a `cluster logs -f` takes a host
 * back after its agent restarts, with the lines printed while it was away, none twice.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { ControlPlane } from '../../control-plane/control-plane';
import { Keys } from '../../control-plane/keys';
import { createLogger } from '../../lib/log';
import { callUnary } from '../../lib/grpc-call';
import { agentProto, apiProto } from '../../proto/load';
import type { LogBatch__Output } from '../../proto/gen/cluster/logs/LogBatch';
import { uniquePrefix, exitWhenDone, useEtcd } from '../helpers/etcd';
import { waitFor } from '../helpers/wait-for';

const logger = createLogger('test', 'silent');

interface FakeLine { time_ms: number; seq: number; app: string; instance: string; stream: string; text: string }

/** The lines a host keeps, across the fake agents that run on it one after the other. */
class Disk {
  readonly lines: FakeLine[] = [];
  private seq = 1000;
  add(timeMs = Date.now()): FakeLine {
    const line = { time_ms: timeMs, seq: ++this.seq, app: 'shop', instance: 'web.1', stream: 'stdout', text: `line ${this.seq}` };
    this.lines.push(line);
    return line;
  }
}

/** An agent's log service over `disk`: the last `lines` of it, then (following) a new line every 20 ms. */
async function fakeAgent(disk: Disk): Promise<{ address: string; close: () => void }> {
  const server = new grpc.Server();
  const timers = new Set<NodeJS.Timeout>();
  server.addService(agentProto().AgentLogs.service, {
    Logs: (call: grpc.ServerWritableStream<{ lines: number; follow: boolean }, unknown>) => {
      const n = call.request.lines;
      call.write({ lines: n > 0 ? disk.lines.slice(-n) : [], history_done: true });
      if (!call.request.follow) return void call.end();
      const timer = setInterval(() => call.write({ lines: [disk.add()] }), 20);
      timers.add(timer);
      call.on('cancelled', () => clearInterval(timer));
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  return {
    address: `127.0.0.1:${port}`,
    close: () => {
      for (const t of timers) clearInterval(t);
      server.forceShutdown();
    },
  };
}

function readLogs(api: InstanceType<ReturnType<typeof apiProto>['ClusterApi']>, req: object): Promise<LogBatch__Output[]> {
  return new Promise((resolve, reject) => {
    const got: LogBatch__Output[] = [];
    const call = api.Logs(req);
    call.on('data', (b: LogBatch__Output) => got.push(b));
    call.on('end', () => resolve(got));
    call.on('error', reject);
  });
}

exitWhenDone();

describe('logs: hosts that go away and come back', { timeout: 90_000 }, () => {
  const etcd = useEtcd();

  it('names a host whose agent lease expired until its own log-source lease does; heartbeats keep that lease', async () => {
    const prefix = uniquePrefix();
    const keys = new Keys(prefix);
    const plane = await ControlPlane.start({ etcd: [etcd.url], listen: '127.0.0.1:0', dataDir: etcd.dataDir, prefix, logger, agentTtlSeconds: 2, logSourceTtlSeconds: 4 });
    const disk = new Disk();
    disk.add();
    const fake = await fakeAgent(disk);
    const agentApi = new (agentProto().AgentApi)(plane.address, grpc.credentials.createInsecure());
    const api = new (apiProto().ClusterApi)(plane.address, grpc.credentials.createInsecure());
    try {
      await callUnary(api, 'CreateApp', { name: 'shop' });
      const { lease_id } = await callUnary(agentApi, 'Register', { agent_id: 'host-1', address: fake.address, log_apps: ['shop'] });
      const logLease = await etcd.client.get(keys.logLease('host-1')).string();
      assert.ok(logLease && logLease !== lease_id, 'a lease of its own, not the registration lease');

      // Heartbeats for longer than the log-source TTL keep both leases (and the same log lease).
      const until = Date.now() + 6_000;
      while (Date.now() < until) {
        assert.equal((await callUnary(agentApi, 'Heartbeat', { agent_id: 'host-1', lease_id })).alive, true);
        await new Promise((r) => setTimeout(r, 500));
      }
      assert.equal(await etcd.client.get(keys.logSource('shop', 'host-1')).string(), '');
      assert.equal(await etcd.client.get(keys.logLease('host-1')).string(), logLease);

      // No more heartbeats: the registration goes with its lease (2 s); the log source stays.
      await waitFor('the registration to expire', async () => (await callUnary(api, 'ListAgents', {})).agents.every((a) => a.state === 'down'), 10_000);
      const answer = await readLogs(api, { app: 'shop', lines: 10 });
      assert.deepEqual(answer.flatMap((b) => b.lines), []);
      const warnings = answer.flatMap((b) => b.warnings);
      assert.equal(warnings.length, 1, warnings.join('\n'));
      assert.match(warnings[0]!, /host host-1 keeps lines of `shop` but is not registered now/);

      // Registering again asks it again, and renews the same log-source lease.
      await callUnary(agentApi, 'Register', { agent_id: 'host-1', address: fake.address, log_apps: ['shop'] });
      const back = await readLogs(api, { app: 'shop', lines: 10 });
      assert.deepEqual(back.flatMap((b) => b.lines).map((l) => l.text), [disk.lines[0]!.text]);
      assert.deepEqual(back.flatMap((b) => b.warnings), []);
      assert.equal(await etcd.client.get(keys.logLease('host-1')).string(), logLease);

      // Gone for longer than the log-source TTL: no longer named.
      await waitFor('the log source to expire with its own lease', async () =>
        (await etcd.client.get(keys.logSource('shop', 'host-1')).string()) === null, 20_000);
      const later = await readLogs(api, { app: 'shop', lines: 10 });
      assert.deepEqual(later.flatMap((b) => b.warnings), []);

      // Back after that: a new log-source lease (the one this replica remembered is gone).
      await callUnary(agentApi, 'Register', { agent_id: 'host-1', address: fake.address, log_apps: ['shop'] });
      const renewed = await etcd.client.get(keys.logLease('host-1')).string();
      assert.ok(renewed && renewed !== logLease, `a new lease: ${renewed}`);
      assert.equal(await etcd.client.get(keys.logSource('shop', 'host-1')).string(), '');
    } finally {
      agentApi.close();
      api.close();
      fake.close();
      await plane.close();
    }
  });

  it('follows a host across its agent restart: the lines printed while it was away, then live, none twice', async () => {
    const plane = await ControlPlane.start({ etcd: [etcd.url], listen: '127.0.0.1:0', dataDir: etcd.dataDir, prefix: uniquePrefix(), logger });
    const disk = new Disk();
    for (let i = 0; i < 5; i++) disk.add(Date.now() - 60_000);
    let fake = await fakeAgent(disk);
    const agentApi = new (agentProto().AgentApi)(plane.address, grpc.credentials.createInsecure());
    const api = new (apiProto().ClusterApi)(plane.address, grpc.credentials.createInsecure());
    await callUnary(api, 'CreateApp', { name: 'shop' });
    const call = api.Logs({ app: 'shop', lines: 3, follow: true });
    try {
      const { lease_id } = await callUnary(agentApi, 'Register', { agent_id: 'host-1', address: fake.address, log_apps: ['shop'] });
      const batches: LogBatch__Output[] = [];
      call.on('data', (b: LogBatch__Output) => batches.push(b));
      call.on('error', () => undefined);
      const seqs = () => batches.flatMap((b) => b.lines.map((l) => l.seq));
      const warnings = () => batches.flatMap((b) => b.warnings);
      // (The follow began before the host registered: it joins with its lines since then.)
      await waitFor('live lines', () => seqs().length >= 5);

      fake.close();
      await waitFor('a warning that the host is gone', () => warnings().some((w) => /host host-1 .*cannot be reached|host host-1 stopped sending/.test(w)));
      // Lines the host captured while its agent was down (the instance kept running).
      const away = [disk.add(), disk.add(), disk.add()].map((l) => l.seq);
      fake = await fakeAgent(disk);
      // As a restarted agent does: with the lease it held (on another port, its registration still alive).
      await callUnary(agentApi, 'Register', { agent_id: 'host-1', address: fake.address, log_apps: ['shop'], previous_lease_id: lease_id });
      await waitFor('the lines from while it was away, then live ones', () => {
        const got = seqs();
        return away.every((s) => got.includes(s)) && got[got.length - 1]! > away[2]! + 5;
      });
      assert.ok(warnings().some((w) => /host host-1 answers again/.test(w)), warnings().join('\n'));
      const got = seqs();
      assert.deepEqual(got, [...got].sort((a, b) => a - b), 'in order');
      assert.equal(new Set(got).size, got.length, 'none twice');
      // Nothing from before the follow began but the 3 lines of history asked for (the host
      // joined late: none), and every line the disk has since the first one shown.
      assert.deepEqual(got, disk.lines.map((l) => l.seq).filter((s) => s >= got[0]! && s <= got[got.length - 1]!));
      assert.ok(disk.lines.slice(0, 5).every((l) => !got.includes(l.seq)), 'old lines stay out');
    } finally {
      call.cancel();
      agentApi.close();
      api.close();
      fake.close();
      await plane.close();
    }
  });

  it('resumes a follow through another replica: no history, each host after the reader\'s place, others since the follow began', async () => {
    const prefix = uniquePrefix();
    const plane = await ControlPlane.start({ etcd: [etcd.url], listen: '127.0.0.1:0', dataDir: etcd.dataDir, prefix, logger });
    const known = new Disk();
    const fresh = new Disk();
    const began = Date.now() - 30_000;
    for (let i = 0; i < 6; i++) known.add();
    fresh.add(began - 10_000); // before the follow began: the reader had no use for it then
    fresh.add(began + 1_000);
    const fakes = [await fakeAgent(known), await fakeAgent(fresh)];
    const agentApi = new (agentProto().AgentApi)(plane.address, grpc.credentials.createInsecure());
    const api = new (apiProto().ClusterApi)(plane.address, grpc.credentials.createInsecure());
    await callUnary(api, 'CreateApp', { name: 'shop' });
    await callUnary(agentApi, 'Register', { agent_id: 'known', address: fakes[0]!.address, log_apps: ['shop'] });
    await callUnary(agentApi, 'Register', { agent_id: 'fresh', address: fakes[1]!.address, log_apps: ['shop'] });
    const call = api.Logs({ app: 'shop', follow: true, lines: 1000, resume_after: [{ host: 'known', seq: known.lines[3]!.seq }], resume_since_ms: began });
    try {
      const batches: LogBatch__Output[] = [];
      call.on('data', (b: LogBatch__Output) => batches.push(b));
      call.on('error', () => undefined);
      const lines = () => batches.flatMap((b) => b.lines);
      await waitFor('live lines of both hosts after their resumed history', () =>
        lines().filter((l) => l.host === 'known').length >= 5 && lines().filter((l) => l.host === 'fresh').length >= 4);
      const of = (host: string) => lines().filter((l) => l.host === host).map((l) => l.seq);
      assert.deepEqual(of('known').slice(0, 2), [known.lines[4]!.seq, known.lines[5]!.seq], 'known: after the place given, none of the 1000 lines of history');
      assert.deepEqual(of('fresh').slice(0, 1), [fresh.lines[1]!.seq], 'fresh: since the follow began');
      for (const host of ['known', 'fresh']) assert.deepEqual(of(host), [...new Set(of(host))].sort((x, y) => x - y), `${host}: in order, once`);
    } finally {
      call.cancel();
      agentApi.close();
      api.close();
      for (const f of fakes) f.close();
      await plane.close();
    }
  });

  it('refuses a malformed resumed follow, naming the problem', async () => {
    const plane = await ControlPlane.start({ etcd: [etcd.url], listen: '127.0.0.1:0', dataDir: etcd.dataDir, prefix: uniquePrefix(), logger });
    const api = new (apiProto().ClusterApi)(plane.address, grpc.credentials.createInsecure());
    try {
      await callUnary(api, 'CreateApp', { name: 'shop' });
      const cases: Array<[object, RegExp]> = [
        [{ follow: false, resume_since_ms: 1 }, /must follow/],
        [{ follow: true, resume_since_ms: -5 }, /resume_since_ms -5/],
        [{ follow: true, resume_since_ms: 1, resume_after: [{ host: 'a b', seq: 1 }] }, /resume_after: /],
        [{ follow: true, resume_since_ms: 1, resume_after: [{ host: 'h', seq: 1.5 }] }, /seq 1.5 of host h/],
      ];
      for (const [req, problem] of cases) {
        await assert.rejects(readLogs(api, { app: 'shop', ...req }), (err: grpc.ServiceError) => {
          assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
          assert.match(err.details, problem);
          return true;
        });
      }
    } finally {
      api.close();
      await plane.close();
    }
  });
});
