/**
 * MergedCommits (control-plane/etcd/merged-commits.ts) looks at whether a caller gave up only
 * after the I/O waiting when its window ends: a process that was stopped (SIGSTOP) or blocked
 * past the window runs its due timers first, and the cancellation that came meanwhile must still
 * drop the write.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import type { Etcd3 } from 'etcd3';
import { MergedCommits } from '../../control-plane/etcd/merged-commits';

describe('MergedCommits', () => {
  it('drops a write whose caller gave up while the process was blocked past the window', async () => {
    const sent: unknown[] = [];
    const client = { kv: { txn: async (req: unknown) => (sent.push(req), { succeeded: true, responses: [] }) } } as unknown as Etcd3;
    const commits = new MergedCommits(client, { windowMs: 2 });
    // The caller's cancellation comes over a socket, as an RST_STREAM does.
    let cancelled = false;
    const server = net.createServer((socket) => socket.on('data', () => (cancelled = true)));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const peer = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    try {
      await new Promise<void>((resolve) => peer.once('connect', resolve));
      await new Promise((resolve) => setTimeout(resolve, 20)); // the server side accepted
      // From the loop's check phase, so that its next turn starts with the due timers, then reads.
      const { write } = await new Promise<{ write: Promise<boolean> }>((resolve) => setImmediate(() => {
        const queued = commits.commit([], [{ put: '/k', value: 'stale' }], () => cancelled);
        peer.write('cancel');
        // Blocked past the window, as a stopped process: the timer and the bytes are both due.
        const until = Date.now() + 50;
        while (Date.now() < until) { /* busy */ }
        resolve({ write: queued });
      }));
      await assert.rejects(write, /write dropped unsent: its caller gave up waiting/);
      assert.equal(sent.length, 0, 'nothing sent to etcd');
      assert.equal(commits.stats.abandoned, 1);
    } finally {
      peer.destroy();
      server.close();
    }
  });
});
