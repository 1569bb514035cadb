/**
 * An agent without a certificate (never joined) in front of a control plane that runs with TLS:
 * its plain gRPC calls fail like an outage ("No connection established"), yet no wait can help,
 * only a join. Told apart by asking for the CA over TLS, which needs no certificate.
 */
import type { Logger } from '../../lib/log';
import { fetchCA } from '../../lib/join';

/** How often, at most, a failing replica is asked whether it wants TLS. */
const PROBE_EVERY_MS = 10_000;
/** The same finding is said again after this long. */
const REPEAT_MS = 60_000;

/** Whether `server` answers over TLS (asking for its CA): a control plane with TLS. */
export async function requiresTls(server: string, timeoutMs: number): Promise<boolean> {
  try {
    await fetchCA(server, undefined, timeoutMs);
    return true;
  } catch {
    return false;
  }
}

/** What to do about it, naming the replicas. */
export function tlsRequiredMessage(servers: readonly string[]): string {
  const list = servers.join(',');
  return `the control plane at ${list} requires TLS and this agent has no certificate: join first with \`cluster agent join --server ${list} --token T --ca-hash H\` (a token and its hash from \`cluster agents:token\`), then start the agent again`;
}

/**
 * For the link of an agent without a certificate: a replica that cannot be reached is asked
 * (now and then, in the background) whether it wants TLS; when it does, that is said as an
 * error, once a minute or when the replica changes, instead of only "unreachable".
 */
export class TlsRequiredWatch {
  private lastProbe = 0;
  private probing = false;
  private lastSaid?: { server: string; atMs: number };

  constructor(private readonly logger: Logger) {}

  failed(server: string): void {
    const now = Date.now();
    if (this.probing || now - this.lastProbe < PROBE_EVERY_MS) return;
    this.lastProbe = now;
    this.probing = true;
    // probe() never throws: requiresTls() answers false for any failure.
    this.probe(server).catch(() => undefined);
  }

  private async probe(server: string): Promise<void> {
    const yes = await requiresTls(server, 2_000);
    this.probing = false;
    if (!yes) return;
    const now = Date.now();
    if (this.lastSaid?.server === server && now - this.lastSaid.atMs < REPEAT_MS) return;
    this.lastSaid = { server, atMs: now };
    this.logger.error({ server }, tlsRequiredMessage([server]));
  }
}
