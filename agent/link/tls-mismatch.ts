/**
 * A replica that cannot be reached because of TLS, not because it is down: its calls fail like
 * an outage ("No connection established"), yet no wait can help, only a join. Told apart by
 * asking for its CA over TLS, which needs no certificate:
 *
 * - this agent has no certificate (never joined) and the control plane runs with TLS;
 * - this agent's certificate is of another CA than the one the control plane presents (the
 *   cluster was re-created with a fresh etcd, or another cluster runs at that address).
 */
import type { Logger } from '../../lib/log';
import { fetchCA } from '../../lib/join';
import { caHash } from '../../lib/pki';

/** How often, at most, a failing replica is asked for its CA. */
const PROBE_EVERY_MS = 10_000;
/** The same finding is said again after this long. */
const REPEAT_MS = 60_000;

/** The hash of the CA `server` presents over TLS, or undefined when it does not answer so. */
export async function presentedCa(server: string, timeoutMs: number): Promise<string | undefined> {
  try {
    return caHash(await fetchCA(server, undefined, timeoutMs));
  } catch {
    return undefined;
  }
}

/** Whether `server` answers over TLS (asking for its CA): a control plane with TLS. */
export async function requiresTls(server: string, timeoutMs: number): Promise<boolean> {
  return (await presentedCa(server, timeoutMs)) !== undefined;
}

/** What to do about it, naming the replicas. */
export function tlsRequiredMessage(servers: readonly string[]): string {
  const list = servers.join(',');
  return `the control plane at ${list} requires TLS and this agent has no certificate: join first with \`cluster agent join --server ${list} --token T --ca-hash H\` (a token and its hash from \`cluster agents:token\`), then start the agent again`;
}

/** `server` presents the CA `theirs`; this agent's certificate is of `ours`. */
export function otherCaMessage(server: string, theirs: string, ours: string): string {
  return (
    `the control plane at ${server} presents a certificate of another CA (${theirs}) than this agent's (CA ${ours}): ` +
    'the cluster was re-created, or another one runs there; to run for it, stop this agent and join it again ' +
    `(\`cluster agent join --server ${server} --token T --ca-hash H\`, a token and its hash from \`cluster agents:token\` on that cluster), then start it`
  );
}

/**
 * For the link: a replica that cannot be reached is asked (now and then, in the background) for
 * its CA; when it wants TLS from an agent without a certificate, or presents another CA than
 * `ownCa` (this agent's, when it has a certificate: read at each probe, renewals may change it),
 * that is said as an error, once a minute or when the finding changes, instead of only
 * "unreachable".
 */
export class TlsMismatchWatch {
  private lastProbe = 0;
  private probing = false;
  private lastSaid?: { message: string; atMs: number };

  constructor(private readonly logger: Logger, private readonly ownCa?: () => string) {}

  failed(server: string): void {
    const now = Date.now();
    if (this.probing || now - this.lastProbe < PROBE_EVERY_MS) return;
    this.lastProbe = now;
    this.probing = true;
    // probe() never throws: presentedCa() answers undefined for any failure.
    this.probe(server).catch(() => undefined);
  }

  private async probe(server: string): Promise<void> {
    const theirs = await presentedCa(server, 2_000);
    this.probing = false;
    if (theirs === undefined) return;
    let message: string;
    if (!this.ownCa) {
      message = tlsRequiredMessage([server]);
    } else {
      const ours = this.ownCa();
      if (theirs === ours) return;
      message = otherCaMessage(server, theirs, ours);
    }
    const now = Date.now();
    if (this.lastSaid?.message === message && now - this.lastSaid.atMs < REPEAT_MS) return;
    this.lastSaid = { message, atMs: now };
    this.logger.error({ server }, message);
  }
}
