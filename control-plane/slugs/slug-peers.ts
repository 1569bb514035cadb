/**
 * The client side of replica-to-replica slug replication: one channel per peer address,
 * over mutual TLS with this replica's own (control-plane) certificate when TLS is on.
 */
import * as grpc from '@grpc/grpc-js';
import { CHANNEL_OPTIONS, slugsProto } from '../../proto/load';
import type { SlugReplicationClient } from '../../proto/gen/cluster/slugs/SlugReplication';
import type { SlugData__Output } from '../../proto/gen/cluster/slugs/SlugData';
import type { PullSlugReply__Output } from '../../proto/gen/cluster/slugs/PullSlugReply';
import { CONTROL_PLANE_NAME } from '../../lib/pki';
import { channelCredentials, targetName, type StaticCertificateProvider } from '../../lib/tls';
import type { SlugUpload } from './slug-store';

const OPTIONS: grpc.ChannelOptions = {
  ...CHANNEL_OPTIONS,
  // A dead peer should be skipped quickly in favour of another holder.
  'grpc.initial_reconnect_backoff_ms': 500,
  'grpc.max_reconnect_backoff_ms': 2_000,
};

/** Time for a slug of `size` bytes to cross: generous, but a stalled peer is given up. */
export function transferDeadlineMs(size: number): number {
  return 30_000 + Math.ceil(size / (5 * 1024 * 1024)) * 1_000;
}

export class SlugPeers {
  private readonly clients = new Map<string, SlugReplicationClient>();
  /** Calls in flight, cancelled by close() so that a shutdown never waits for a transfer. */
  private readonly calls = new Set<{ cancel(): void }>();
  private closed = false;

  /** With a certificate provider, peers are dialled over mutual TLS. */
  constructor(private readonly tls?: StaticCertificateProvider) {}

  /** Streams slug `digest` from the replica at `address` into `upload` and commits it (digest-checked). */
  fetchInto(address: string, digest: string, upload: SlugUpload, timeoutMs: number): Promise<number> {
    if (this.closed) return Promise.reject(new Error('shutting down'));
    return new Promise<number>((resolve, reject) => {
      const call = this.client(address).FetchSlug({ digest }, { deadline: Date.now() + timeoutMs });
      this.track(call);
      let chain: Promise<void> = Promise.resolve();
      let size = 0;
      let failed = false;
      const fail = (err: Error) => {
        if (failed) return;
        failed = true;
        call.cancel();
        upload.discard();
        reject(err);
      };
      call.on('data', (chunk: SlugData__Output) => {
        size += chunk.data.length;
        call.pause(); // one chunk on disk at a time: memory stays flat whatever the slug's size
        chain = chain.then(() => upload.write(chunk.data)).then(() => void call.resume(), (err: Error) => fail(err));
      });
      call.on('error', (err) => fail(new Error(`from ${address}: ${err.message}`)));
      call.on('end', () => {
        chain = chain.then(async () => {
          if (failed) return;
          try {
            await upload.commit();
            resolve(size);
          } catch (err) {
            failed = true;
            reject(err as Error);
          }
        });
      });
    });
  }

  /** Asks the replica at `address` to store slug `digest`, fetching it from `sources` first. */
  askToPull(address: string, digest: string, sources: string[], size: number, timeoutMs: number): Promise<PullSlugReply__Output> {
    if (this.closed) return Promise.reject(new Error('shutting down'));
    return new Promise((resolve, reject) => {
      const call = this.client(address).PullSlug({ digest, sources, size: String(size) }, { deadline: Date.now() + timeoutMs }, (err, reply) =>
        err || !reply ? reject(err ?? new Error('empty reply')) : resolve(reply),
      );
      this.track(call);
    });
  }

  /** Cancels every transfer in flight and closes the channels; idempotent. */
  close(): void {
    this.closed = true;
    for (const call of this.calls) call.cancel();
    this.calls.clear();
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }

  private track(call: { cancel(): void; on(event: 'status', listener: () => void): unknown }): void {
    this.calls.add(call);
    call.on('status', () => this.calls.delete(call));
  }

  private client(address: string): SlugReplicationClient {
    let client = this.clients.get(address);
    if (!client) {
      const Service = slugsProto().SlugReplication;
      client = this.tls
        ? new Service(address, channelCredentials(this.tls), { ...OPTIONS, ...targetName(CONTROL_PLANE_NAME) })
        : new Service(address, grpc.credentials.createInsecure(), OPTIONS);
      this.clients.set(address, client);
    }
    return client;
  }
}
