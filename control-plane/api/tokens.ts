/** agents:token and operators:token. */
import type { ClusterApiHandlers } from '../../proto/gen/cluster/api/ClusterApi';
import { FailedPreconditionError, InvalidArgumentError } from '../errors';
import type { ApiContext } from '../rpc/context';
import { unary } from '../rpc/status';
import { datacenterProblem, labelProblem } from '../../lib/names';
import { agentLabelCountProblem } from '../../lib/limits';

export function tokenHandlers(ctx: ApiContext): Pick<ClusterApiHandlers, 'CreateToken'> {
  return {
    CreateToken: unary(ctx.logger, async (req) => {
      if (req.kind !== 'agent' && req.kind !== 'operator') throw new InvalidArgumentError(`unknown token kind \`${req.kind}\``);
      // What a token gives its agents must be something placement rules can name.
      // Nor more of them than an agent may register with: every agent joining with it would be refused.
      const problem =
        (req.datacenter && datacenterProblem(req.datacenter)) ||
        Object.entries(req.labels).map(([k, v]) => labelProblem(k, v)).find((p) => p) ||
        (req.kind === 'agent' ? agentLabelCountProblem(req.labels) : undefined);
      if (problem) throw new InvalidArgumentError(problem);
      const security = ctx.security;
      if (!security) {
        throw new FailedPreconditionError(req.kind === 'agent'
          ? 'this control plane runs without TLS (on loopback, or --insecure): agents need no token, start them with `cluster agent start --server HOST:PORT`'
          : 'this control plane runs without TLS (on loopback, or --insecure): the CLI needs no login, only --server HOST:PORT');
      }
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
