/** agents:token and operators:token. */
import type { ClusterApiHandlers } from '../../proto/gen/cluster/api/ClusterApi';
import { FailedPreconditionError, InvalidArgumentError } from '../errors';
import type { ApiContext } from '../rpc/context';
import { unary } from '../rpc/status';

export function tokenHandlers(ctx: ApiContext): Pick<ClusterApiHandlers, 'CreateToken'> {
  return {
    CreateToken: unary(ctx.logger, async (req) => {
      const security = ctx.security;
      if (!security) throw new FailedPreconditionError('this control plane runs without TLS (--insecure): servers join without tokens');
      if (req.kind !== 'agent' && req.kind !== 'operator') throw new InvalidArgumentError(`unknown token kind \`${req.kind}\``);
      const created = await security.tokens.create({
        kind: req.kind,
        ttlSeconds: req.ttl_seconds || 3600,
        uses: req.uses || 1,
        labels: req.kind === 'agent' ? req.labels : {},
        datacenter: req.kind === 'agent' ? req.datacenter : '',
      });
      ctx.logger.info({ kind: req.kind, uses: req.uses || 1, expiresAtMs: created.expiresAtMs }, 'join token created');
      return { token: created.token, ca_hash: security.caHash, expires_at_ms: created.expiresAtMs };
    }),
  };
}
