/** What a replica serves the other replicas: its verified slugs, and pulling one on request. */
import type { SlugReplicationHandlers } from '../../proto/gen/cluster/slugs/SlugReplication';
import type { Logger } from '../../lib/log';
import { InvalidArgumentError, NotFoundError } from '../errors';
import { toServiceError, unary } from '../rpc/status';
import { sendSlug } from './send-slug';
import { isSlugDigest } from './slug-store';
import type { SlugReplicator } from './slug-replicator';

const ADDRESS = /^[^\s/,]+:\d{1,5}$/;

function requireDigest(digest: string): string {
  if (!isSlugDigest(digest)) throw new InvalidArgumentError(`malformed slug digest \`${digest}\` (expected 64 lowercase hex digits)`);
  return digest;
}

export function slugReplicationService(replicator: () => Promise<SlugReplicator>, logger: Logger): SlugReplicationHandlers {
  return {
    FetchSlug: (call) => {
      (async () => {
        const digest = requireDigest(call.request.digest);
        const slugs = await replicator();
        // Only a copy held here: fetching it elsewhere for the caller could loop between replicas.
        const check = await slugs.store.check(digest);
        if (check.state === 'corrupt') await slugs.corrupted(digest);
        if (check.state !== 'ok') throw new NotFoundError(`slug ${digest} is not stored on this replica`);
        sendSlug(call, check.path, digest, () => {
          // corrupted() logs its own failures; nothing waits for it.
          slugs.corrupted(digest).catch((err: unknown) => logger.error({ err, slug: digest }, 'bug: withdrawing a corrupt slug failed'));
        });
      })().catch((err: unknown) => call.emit('error', toServiceError(err, logger)));
    },

    PullSlug: unary(logger, async (req) => {
      const digest = requireDigest(req.digest);
      const bad = req.sources.find((s) => !ADDRESS.test(s));
      if (bad !== undefined) throw new InvalidArgumentError(`source \`${bad}\` is not HOST:PORT`);
      const size = Number(req.size);
      if (!Number.isSafeInteger(size) || size < 0) throw new InvalidArgumentError(`slug size \`${req.size}\` is not a byte count`);
      const slugs = await replicator();
      const alreadyHeld = await slugs.pull(digest, req.sources, size);
      return { already_held: alreadyHeld };
    }),
  };
}
