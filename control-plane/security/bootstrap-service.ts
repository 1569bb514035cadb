/** Joining the cluster: the CA for pinning, certificates for join tokens, renewals. */
import type { BootstrapHandlers } from '../../proto/gen/cluster/bootstrap/Bootstrap';
import type { Logger } from '../../lib/log';
import { agentIdProblem } from '../../lib/names';
import { datacenterClashProblem, labelClashProblem } from '../../lib/label-clash';
import { agentHostName, signCsr, validity, type Identity } from '../../lib/pki';
import { peerIdentity } from '../../lib/tls';
import { InvalidArgumentError } from '../errors';
import { refusal, toServiceError } from '../rpc/status';
import { UNAUTHENTICATED } from '../../lib/status-reason';
import type { ClusterView } from '../state/cluster-view';
import type { Security } from './security';
import type { TokenKind } from './tokens';

/** How long certificates live; agents renew when a third is left. */
export const CERT_DAYS = { agent: 30, operator: 90 } as const;

function dnsNamesFor(identity: Identity): string[] {
  return identity.kind === 'agent' ? [agentHostName(identity.name)] : [];
}

export function bootstrapService(security: Security, view: ClusterView, logger: Logger): BootstrapHandlers {
  const fail = (err: unknown) => toServiceError(err, logger);

  const certificate = async (identity: Identity, csrPem: string, extra: { datacenter?: string; labels?: Record<string, string> } = {}) => {
    const kind = identity.kind === 'operator' ? 'operator' : 'agent';
    const certPem = await signCsr(security.ca, csrPem, { identity, days: CERT_DAYS[kind], dnsNames: dnsNamesFor(identity) }).catch((err: Error) => {
      throw new InvalidArgumentError(err.message);
    });
    return {
      cert_pem: certPem,
      ca_pem: security.ca.certPem,
      not_after_ms: validity(certPem).notAfterMs,
      datacenter: extra.datacenter ?? '',
      labels: extra.labels ?? {},
    };
  };

  return {
    GetCA: (_call, callback) => callback(null, { ca_pem: security.ca.certPem, ca_hash: security.caHash }),

    Join: (call, callback) => {
      const req = call.request;
      (async () => {
        const kind = req.kind as TokenKind;
        if (kind !== 'agent' && kind !== 'operator') throw new InvalidArgumentError(`unknown kind \`${req.kind}\`: agent or operator`);
        // Operators are named `user@host` by default (as the local operator is): one `@` is fine.
        const problem = agentIdProblem(kind === 'operator' ? req.name.replace(/^([^@]+)@(?=[^@]+$)/, '$1.') : req.name);
        if (problem) throw new InvalidArgumentError(`invalid name \`${req.name}\`: use up to 63 letters, digits, dots, dashes and underscores${kind === 'operator' ? ' (and one @)' : ''}`);
        if (kind === 'agent' && view.isRegistered(req.name)) {
          throw new InvalidArgumentError(`an agent named \`${req.name}\` is registered and alive: choose another --name`);
        }
        // A --label or --datacenter that changes the token's is refused before the token is spent.
        const token = await security.tokens.consume(req.token, kind, (record) => {
          const clash = labelClashProblem(record.labels, req.labels ?? {}) ?? datacenterClashProblem(record.datacenter, req.datacenter);
          if (clash) throw new InvalidArgumentError(clash);
        });
        const reply = await certificate({ kind, name: req.name }, req.csr_pem, { datacenter: token.datacenter, labels: token.labels });
        logger.info({ kind, name: req.name }, 'joined with a token');
        return reply;
      })().then((reply) => callback(null, reply), (err: unknown) => callback(fail(err)));
    },

    Renew: (call, callback) => {
      const identity = peerIdentity(call);
      if (!identity || identity.kind === 'control-plane') {
        return callback(refusal(UNAUTHENTICATED, 'renewing needs the current certificate'));
      }
      certificate(identity, call.request.csr_pem).then(
        (reply) => {
          logger.info({ kind: identity.kind, name: identity.name }, 'certificate renewed');
          callback(null, reply);
        },
        (err: unknown) => callback(fail(err)),
      );
    },
  };
}
