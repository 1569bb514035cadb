/**
 * The slug's upload (`cluster deploy`): the metadata, then the slug in 256 KiB chunks, answered
 * with the release once the control plane has stored the slug, copied it to the other replicas
 * and written the release (control-plane/api/deploy.ts).
 *
 * No deadline on the whole: a big slug on a slow link takes as long as it takes while it moves.
 * A stall fails instead. While sending, progress is a chunk the control plane took (grpc-js calls
 * a write's callback once HTTP/2 flow control let it out, which the control plane allows as it
 * stores what came): none for the idle timeout (60 s; CLUSTER_UPLOAD_IDLE_TIMEOUT seconds) fails
 * the deploy. Once every byte is out, the control plane copies the slug to its peers (up to 60 s
 * plus 2 s per 5 MiB, docs/high-availability.md) and writes the release: its answer is waited for
 * that long plus the idle timeout. A control plane that stopped altogether is noticed sooner, by
 * the channel's keepalive pings (proto/load.ts).
 */
import * as fs from 'node:fs';
import type { ClusterApiClient } from '../proto/gen/cluster/api/ClusterApi';
import type { DeployMeta } from '../proto/gen/cluster/api/DeployMeta';
import type { ReleaseInfo__Output } from '../proto/gen/cluster/api/ReleaseInfo';
import { ReachError, UserError } from './errors';
import { formatBytes } from './output/units';

export const UPLOAD_IDLE_TIMEOUT_ENV = 'CLUSTER_UPLOAD_IDLE_TIMEOUT';
const DEFAULT_IDLE_TIMEOUT_S = 60;
const MAX_IDLE_TIMEOUT_S = 86_400;
const CHUNK = 256 * 1024;

/** How long an upload may take no bytes: CLUSTER_UPLOAD_IDLE_TIMEOUT (whole seconds), else 60 s. */
export function uploadIdleTimeoutMs(env: NodeJS.ProcessEnv = process.env): number {
  const text = env[UPLOAD_IDLE_TIMEOUT_ENV];
  if (text === undefined || text === '') return DEFAULT_IDLE_TIMEOUT_S * 1000;
  const seconds = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(seconds >= 1 && seconds <= MAX_IDLE_TIMEOUT_S)) {
    throw new UserError(`${UPLOAD_IDLE_TIMEOUT_ENV}=${text}: expected whole seconds from 1 to ${MAX_IDLE_TIMEOUT_S}, e.g. 120`);
  }
  return seconds * 1000;
}

/** What the control plane may take after the last byte: copies to its peers (slug-peers.ts), then the release. */
function answerAllowanceMs(size: number, idleTimeoutMs: number): number {
  return 60_000 + Math.ceil(size / (5 * 1024 * 1024)) * 2_000 + idleTimeoutMs;
}

export interface UploadOptions {
  idleTimeoutMs: number;
  /** The control plane's address, for messages. */
  server?: string;
}

/** Uploads `file` (`size` bytes) after `meta`; resolves to the release made. */
export function uploadSlug(api: ClusterApiClient, meta: DeployMeta, file: string, size: number, opts: UploadOptions): Promise<ReleaseInfo__Output> {
  const where = opts.server ? `the control plane at ${opts.server}` : 'the control plane';
  return new Promise((resolve, reject) => {
    let taken = 0;
    let read = false;
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const settle = (then: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      then();
    };
    const call = api.Deploy((err, res) => settle(() => (err ? reject(err) : resolve(res!))));
    const input = fs.createReadStream(file, { highWaterMark: CHUNK });
    const giveUp = (message: string) => settle(() => {
      input.destroy();
      call.cancel();
      reject(new ReachError(message));
    });
    const waitForProgress = () => {
      clearTimeout(timer);
      if (read && taken >= size) {
        const ms = answerAllowanceMs(size, opts.idleTimeoutMs);
        timer = setTimeout(() => giveUp(
          `${where} took the whole slug (${formatBytes(size)}) but did not answer within ${ms / 1000} s: it may still make the release; look with \`cluster releases -a ${meta.app}\` before deploying again`,
        ), ms);
        return;
      }
      timer = setTimeout(() => giveUp(
        `the upload stalled: ${where} took no bytes for ${opts.idleTimeoutMs / 1000} s (${formatBytes(taken)} of ${formatBytes(size)} sent); ` +
        `it may be overloaded or its disk stalled, or the network stopped passing data. Nothing was released: deploy again, or allow longer pauses with ${UPLOAD_IDLE_TIMEOUT_ENV}=SECONDS`,
      ), opts.idleTimeoutMs);
    };
    waitForProgress();
    call.write({ meta }, () => {
      if (!settled) waitForProgress();
    });
    input.on('data', (data) => {
      const chunk = data as Buffer;
      const more = call.write({ data: chunk }, () => {
        taken += chunk.length;
        if (!settled) waitForProgress();
      });
      if (!more) {
        input.pause();
        call.once('drain', () => input.resume());
      }
    });
    input.on('end', () => {
      read = true;
      call.end();
      if (!settled) waitForProgress();
    });
    input.on('error', (err) => settle(() => {
      call.cancel();
      reject(err);
    }));
  });
}
