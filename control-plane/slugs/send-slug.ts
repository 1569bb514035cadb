/** Streams a stored slug to a caller (an agent or a replica), re-hashing it on the way. */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { INTERNAL, NOT_FOUND, statusWithReason } from '../../lib/status-reason';
import { refusal } from '../rpc/status';

const SLUG_CHUNK = 256 * 1024;

/** The part of a server-streaming call this needs. */
interface SlugStreamCall {
  readonly cancelled: boolean;
  write(message: { data: Buffer; total_size: string }): boolean;
  end(): void;
  emit(event: 'error', err: Partial<grpc.StatusObject>): boolean;
  once(event: 'drain', listener: () => void): unknown;
  on(event: 'cancelled', listener: () => void): unknown;
}

/**
 * Sends `file` (already checked against `digest`). The bytes are hashed again as they are
 * read: if the file changed since its check, the stream ends in an error instead of a clean
 * end, and `onCorrupt` runs (the receiver checks the digest too, so it never uses them).
 */
export function sendSlug(call: SlugStreamCall, file: string, digest: string, onCorrupt: () => void): void {
  if (call.cancelled) return; // the caller gave up while the slug was being fetched
  let size: number;
  try {
    size = fs.statSync(file).size;
  } catch (err) {
    call.emit('error', refusal(NOT_FOUND, `slug ${digest.slice(0, 12)} vanished: ${(err as Error).message}`));
    return;
  }
  const hash = createHash('sha256');
  const stream = fs.createReadStream(file, { highWaterMark: SLUG_CHUNK });
  stream.on('data', (data) => {
    hash.update(data as Buffer);
    if (!call.write({ data: data as Buffer, total_size: String(size) })) {
      stream.pause();
      call.once('drain', () => stream.resume());
    }
  });
  stream.on('end', () => {
    if (hash.digest('hex') === digest) return call.end();
    onCorrupt();
    call.emit('error', statusWithReason(grpc.status.DATA_LOSS, `slug ${digest.slice(0, 12)} changed on disk while being sent: refused`, INTERNAL));
  });
  stream.on('error', (err) => call.emit('error', refusal(INTERNAL, `reading slug failed: ${err.message}`)));
  call.on('cancelled', () => stream.destroy());
}
