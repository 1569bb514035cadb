/** What `cluster agent start` passes to Agent.start (agent.ts). */
import type { Logger } from '../lib/log';
import type { TlsMaterial } from '../lib/tls';
import type { AgentIdentity } from './link/control-plane-link';
import type { PortRange } from './supervisor/ports';

export interface AgentOptions {
  /** The control-plane replicas: HOST:PORT[,HOST:PORT…]. */
  server: string;
  dataDir: string;
  /** Where the agent serves logs (host:port; port 0 picks one). */
  listen: string;
  /**
   * The address the control plane dials; default: the bound listen address, or for a wildcard
   * listen address (0.0.0.0, ::) the IP this agent reaches the control plane from.
   */
  advertise?: string;
  identity: Omit<AgentIdentity, 'address'>;
  ports: PortRange;
  /** SIGTERM → SIGKILL for process types without a grace period of their own. */
  stopGraceMs?: number;
  logger: Logger;
  /** The agent's certificate (after `cluster agent join`): everything goes over mutual TLS. */
  tls?: TlsMaterial;
  /** Log store bounds (bytes on disk per instance and in all). */
  logs?: { maxBytesPerInstance?: number; maxBytesTotal?: number; maxPendingBytesPerInstance?: number };
  /**
   * How long instances keep running while no control plane is reachable; then the agent stops
   * them until it hears from one again (disconnect-guard.ts). 0 (default): keep them running.
   */
  disconnectedGraceMs?: number;
  /** Where to serve Prometheus metrics (HOST:PORT; docs/metrics.md); none by default. */
  metrics?: string;
  /** How often instances' CPU and memory are sampled from /proc (default 5 s). */
  usageSampleMs?: number;
  /** How long a slug nothing uses stays unpacked (`--keep-slugs`; default DEFAULT_KEEP_SLUGS_MS). */
  keepSlugsMs?: number;
  /** How often every status is sent again, changed or not (`--status-resend`; default STATUS_RESEND_MS). */
  statusResendMs?: number;
}
