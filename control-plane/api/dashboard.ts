/** `cluster dashboard`: a one-use login link to this replica's dashboard (docs/dashboard.md). */
import type { ClusterApiHandlers } from '../../proto/gen/cluster/api/ClusterApi';
import { FailedPreconditionError } from '../errors';
import type { DashboardSessions } from '../http/sessions';
import type { ApiContext } from '../rpc/context';
import { unary } from '../rpc/status';

export interface DashboardEndpoint {
  sessions: DashboardSessions;
  /** https://HOST:PORT of this replica's dashboard. */
  url: string;
}

/** Only operators reach this (the cluster API is operators-only: security/authz.ts). */
export function dashboardHandlers(ctx: ApiContext, endpoint: () => DashboardEndpoint | undefined): Pick<ClusterApiHandlers, 'CreateDashboardLink'> {
  return {
    CreateDashboardLink: unary(ctx.logger, async (req) => {
      const dashboard = endpoint();
      if (!dashboard) throw new FailedPreconditionError('this control plane serves no dashboard: start it with `cluster control-plane start --http HOST:PORT`');
      const link = await dashboard.sessions.createLink(req.ttl_seconds || undefined);
      ctx.logger.info({ expiresAtMs: link.expiresAtMs }, 'dashboard login link created');
      return { url: `${dashboard.url}/login?token=${link.token}`, expires_at_ms: link.expiresAtMs, ca_hash: ctx.security?.caHash ?? '' };
    }),
  };
}
