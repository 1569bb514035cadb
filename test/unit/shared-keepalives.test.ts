/**
 * SharedKeepAlives and openKeepAliveStream with fake etcd3 streams: renewals spread over
 * streams, are written again when a stream breaks (only for leases surely alive), a late
 * answer is never taken for a newer renewal, and a busy etcd is not reported as a dead member.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { Etcd3 } from 'etcd3';
import { isBusyEtcd, openKeepAliveStream } from '../../control-plane/etcd/keepalive-stream';
import { MAX_STREAMS, RENEW_TIMEOUT_MS, SharedKeepAlives } from '../../control-plane/etcd/shared-keepalives';

const BUSY = 'etcdserver: request timed out, waiting for the applied index took too long';

/** A grpc-js keepalive stream as etcd3 hands it over: etcd3's own error listener attached. */
class FakeStream extends EventEmitter {
  readonly written: string[] = [];
  ended = false;
  /** Errors etcd3's listener saw (it would mark the member failed). */
  readonly markedFailed: Error[] = [];

  constructor() {
    super();
    this.on('error', (err: Error) => this.markedFailed.push(err));
  }

  write(req: { ID: string }): boolean {
    this.written.push(req.ID);
    return true;
  }

  end(): void {
    this.ended = true;
  }

  answer(id: string, ttl: number): void {
    this.emit('data', { ID: id, TTL: String(ttl) });
  }

  fail(message: string): void {
    this.emit('error', Object.assign(new Error(`14 UNAVAILABLE: ${message}`), { code: 14, details: message, metadata: {} }));
  }
}

/** `firstOpenMs`: how long opening the first stream takes (the others open at once). */
function fakeClient(firstOpenMs = 0): { client: Etcd3; streams: FakeStream[] } {
  const streams: FakeStream[] = [];
  let opened = 0;
  const client = {
    leaseClient: {
      leaseKeepAlive: async () => {
        if (opened++ === 0 && firstOpenMs > 0) await new Promise((resolve) => setTimeout(resolve, firstOpenMs));
        const stream = new FakeStream();
        streams.push(stream);
        return stream;
      },
    },
  } as unknown as Etcd3;
  return { client, streams };
}

/** Lets the streams' `opening.then` callbacks (the writes) run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

/** Polls (no fixed sleep) until `n` streams were opened. */
async function waitForStreams(streams: FakeStream[], n: number): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (streams.length < n) {
    assert.ok(Date.now() < deadline, `${n} streams opened`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('shared keepalives', () => {
  it('spreads renewals waiting together over several streams, and reuses an idle one', async () => {
    const { client, streams } = fakeClient();
    const shared = new SharedKeepAlives(client, () => true);
    try {
      const renewals = ['1', '2', '3'].map((id) => shared.renew(id));
      await settle();
      assert.equal(streams.length, 3, 'one stream each while every stream has a renewal waiting');
      streams.forEach((s, i) => s.answer(String(i + 1), 4));
      assert.deepEqual(await Promise.all(renewals), [4, 4, 4]);
      const again = shared.renew('7');
      await settle();
      assert.equal(streams.length, 3, 'an idle stream takes the next renewal');
      streams.find((s) => s.written.includes('7'))!.answer('7', 3);
      assert.equal(await again, 3);
    } finally {
      shared.close();
    }
  });

  it(`never opens more than ${MAX_STREAMS} streams`, async () => {
    const { client, streams } = fakeClient();
    const shared = new SharedKeepAlives(client, () => true);
    const renewals = Array.from({ length: MAX_STREAMS * 3 }, (_, i) => shared.renew(String(i + 1)).catch(() => 0));
    await settle();
    assert.equal(streams.length, MAX_STREAMS);
    assert.equal(streams.reduce((n, s) => n + s.written.length, 0), MAX_STREAMS * 3);
    shared.close();
    await Promise.all(renewals);
  });

  it('writes the renewals of a stream etcd gave up on again on a fresh one, without marking the member failed', async () => {
    const { client, streams } = fakeClient();
    const shared = new SharedKeepAlives(client, (id) => id !== '9');
    try {
      const first = shared.renew('5');
      await settle();
      // Streams of their own (every open stream has a renewal waiting); nothing is answered.
      const alive = shared.renew('6');
      const dying = shared.renew('9');
      await settle();
      const broken = streams.find((s) => s.written.includes('5'))!;
      broken.fail(BUSY);
      await settle();
      assert.equal(broken.markedFailed.length, 0, 'etcd answered, only slowly: the member is not marked failed');
      const fresh = streams.filter((s) => s !== broken && s.written.includes('5'));
      assert.equal(fresh.length, 1, 'lease 5 written again on another stream');
      fresh[0]!.answer('5', 4);
      assert.equal(await first, 4);
      // Leases 6 and 9 were on other streams: unaffected until theirs break.
      const nine = streams.find((s) => s.written.includes('9'))!;
      nine.fail(BUSY);
      await assert.rejects(dying, /applied index/, 'a lease not surely alive is not written again');
      const six = streams.filter((s) => s.written.includes('6'));
      six[six.length - 1]!.answer('6', 4);
      assert.equal(await alive, 4);
    } finally {
      shared.close();
    }
  });

  it('gives up on a renewal after two re-sends', async () => {
    const { client, streams } = fakeClient();
    const shared = new SharedKeepAlives(client, () => true);
    try {
      const renewal = shared.renew('5');
      for (let i = 0; i < 3; i++) {
        await settle();
        streams[streams.length - 1]!.fail(BUSY);
      }
      await assert.rejects(renewal, /applied index/);
      assert.equal(streams.length, 3);
    } finally {
      shared.close();
    }
  });

  it('writes a renewal again when its connection dropped, however often etcd failed it before', async () => {
    const { client, streams } = fakeClient();
    const shared = new SharedKeepAlives(client, () => true);
    try {
      const renewal = shared.renew('5');
      for (const failure of [BUSY, BUSY, 'Connection dropped', 'Connection dropped']) {
        await settle();
        streams[streams.length - 1]!.fail(failure);
      }
      await settle();
      assert.equal(streams.length, 5, 'written again after each drop');
      streams[4]!.answer('5', 4);
      assert.equal(await renewal, 4);
    } finally {
      shared.close();
    }
  });

  it('passes any other stream error on to etcd3 (a dead member is marked failed)', async () => {
    const { client, streams } = fakeClient();
    const shared = new SharedKeepAlives(client, () => false);
    try {
      const renewal = shared.renew('5');
      await settle();
      streams[0]!.fail('Connection dropped');
      await assert.rejects(renewal, /Connection dropped/);
      assert.equal(streams[0]!.markedFailed.length, 1);
    } finally {
      shared.close();
    }
  });

  it('does not take a late answer for a newer renewal of the same lease', async () => {
    const { client, streams } = fakeClient();
    const shared = new SharedKeepAlives(client, () => true, 50);
    try {
      const old = shared.renew('5');
      await assert.rejects(old, /no answer to a lease keepalive/);
      const stale = streams[0]!;
      assert.ok(stale.ended, 'the stream of a renewal that timed out is ended (half-closed)');
      const newer = shared.renew('5');
      await settle();
      assert.equal(stale.written.length, 1, 'an ended stream takes no more renewals');
      stale.answer('5', 1); // the answer to the renewal that timed out
      const fresh = streams[1]!;
      fresh.answer('5', 4);
      assert.equal(await newer, 4);
    } finally {
      shared.close();
    }
  });

  it('writes nothing on a stream whose renewal timed out while it was opening', async () => {
    const { client, streams } = fakeClient(100);
    const shared = new SharedKeepAlives(client, () => true, 30);
    try {
      await assert.rejects(shared.renew('5'), /no answer to a lease keepalive in 30 ms/);
      await waitForStreams(streams, 1);
      await settle();
      assert.ok(streams[0]!.ended, 'ended once open');
      assert.deepEqual(streams[0]!.written, [], 'the renewal that timed out was not written after the end');
      const next = shared.renew('5');
      await settle();
      assert.equal(streams.length, 2, 'the next renewal goes on a new stream');
      streams[1]!.answer('5', 4);
      assert.equal(await next, 4);
    } finally {
      shared.close();
    }
  });

  it(`times out after ${RENEW_TIMEOUT_MS} ms unless told otherwise`, async () => {
    const { client } = fakeClient();
    const shared = new SharedKeepAlives(client, () => true);
    const started = Date.now();
    await assert.rejects(shared.renew('5'), new RegExp(`in ${RENEW_TIMEOUT_MS} ms`));
    assert.ok(Date.now() - started >= RENEW_TIMEOUT_MS - 50);
    shared.close();
  });

  it('fails what waits when closed', async () => {
    const { client } = fakeClient();
    const shared = new SharedKeepAlives(client, () => true);
    const renewal = shared.renew('5');
    await settle();
    shared.close();
    await assert.rejects(renewal, /closed/);
    await assert.rejects(shared.renew('6'), /closed/);
  });
});

describe('openKeepAliveStream', () => {
  it('tells a busy etcd from an unreachable one', () => {
    assert.ok(isBusyEtcd(new Error(`14 UNAVAILABLE: ${BUSY}`)));
    assert.ok(!isBusyEtcd(new Error('14 UNAVAILABLE: Connection dropped')));
    assert.ok(!isBusyEtcd('waiting for the applied index'));
  });

  it('hands every failure but a busy etcd on to etcd3 (which counts them once a second: stream-failures.ts)', async () => {
    const { client, streams } = fakeClient();
    const opened = await Promise.all([1, 2, 3].map(() => openKeepAliveStream(client)));
    for (const stream of opened) stream.on('error', () => undefined);
    for (const stream of streams) stream.fail('Connection dropped');
    assert.deepEqual(streams.map((s) => s.markedFailed.length), [1, 1, 1]);
  });

  it('keeps etcd3 from marking a busy member failed, and only that', async () => {
    const { client, streams } = fakeClient();
    const stream = await openKeepAliveStream(client);
    const seen: Error[] = [];
    stream.on('error', (err: Error) => seen.push(err));
    streams[0]!.fail(BUSY);
    streams[0]!.fail('Connection dropped');
    assert.equal(seen.length, 2, 'the caller sees both');
    assert.deepEqual(streams[0]!.markedFailed.map((e) => e.message), ['14 UNAVAILABLE: Connection dropped']);
  });
});
