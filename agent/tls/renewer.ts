/** Renews the agent's certificate when a third of its life is left; the new one is used at once. */
import type { Logger } from '../../lib/log';
import { renewCertificate } from '../../lib/join';
import { validity } from '../../lib/pki';
import type { StaticCertificateProvider, TlsMaterial } from '../../lib/tls';
import { saveCredentials } from './agent-credentials';
import { jittered } from '../../lib/retry-delay';

const CHECK_EVERY_MS = 60 * 60_000;
const RETRY_MS = 60_000;

export class CertificateRenewer {
  private timer?: NodeJS.Timeout;

  constructor(
    private material: TlsMaterial,
    private readonly provider: StaticCertificateProvider,
    /** `server`: the replica to ask (a function: the current one, after failovers). */
    private readonly opts: { server: string | (() => string); agentId: string; dataDir: string; logger: Logger },
  ) {}

  start(): void {
    this.checkInBackground();
  }

  close(): void {
    clearTimeout(this.timer);
  }

  /** Whether the certificate is in the last third of its life. */
  static due(certPem: string, now = Date.now()): boolean {
    const { notBeforeMs, notAfterMs } = validity(certPem);
    return now > notAfterMs - (notAfterMs - notBeforeMs) / 3;
  }

  private async check(): Promise<void> {
    let next = CHECK_EVERY_MS;
    if (CertificateRenewer.due(this.material.certPem)) {
      try {
        const renewed = await renewCertificate(typeof this.opts.server === 'function' ? this.opts.server() : this.opts.server, this.material, { kind: 'agent', name: this.opts.agentId });
        saveCredentials(this.opts.dataDir, renewed.material);
        this.material = renewed.material;
        this.provider.update(renewed.material);
        this.opts.logger.info({ notAfter: new Date(renewed.notAfterMs).toISOString() }, 'certificate renewed');
      } catch (err) {
        next = jittered(RETRY_MS);
        this.opts.logger.warn({ err: (err as Error).message }, 'certificate renewal failed; retrying in a minute');
      }
    }
    this.schedule(next);
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => this.checkInBackground(), delayMs);
    this.timer.unref();
  }

  /** check() handles a failed renewal; anything else (an unreadable certificate) is logged and checked again later. */
  private checkInBackground(): void {
    this.check().catch((err: unknown) => {
      this.opts.logger.error({ err }, 'checking the certificate for renewal failed; retrying in a minute');
      this.schedule(RETRY_MS);
    });
  }
}
