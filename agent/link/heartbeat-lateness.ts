/**
 * Notices heartbeats that go out late because the agent's event loop was busy: the one
 * symptom an operator needs when an agent loses its lease while its server is fine (the
 * control plane then places its instances again). Warned at most once a minute, with how
 * many more late ones there were meanwhile.
 */
export interface LateHeartbeat {
  lateMs: number;
  /** Late heartbeats not warned about since the last warning. */
  unreported: number;
}

export class HeartbeatLateness {
  private dueAtMs: number | undefined;
  private lastWarnedMs = -Infinity;
  private unreported = 0;

  constructor(
    /** A heartbeat this much later than its timer was set for is worth a warning. */
    private readonly warnAfterMs: number,
    private readonly quietMs = 60_000,
  ) {}

  /** The next heartbeat's timer is set for `atMs`; undefined: the next tick is no heartbeat. */
  due(atMs: number | undefined): void {
    this.dueAtMs = atMs;
  }

  /** A tick starts at `nowMs`: the heartbeat to warn about, if it is late and no warning went out lately. */
  started(nowMs: number): LateHeartbeat | undefined {
    const due = this.dueAtMs;
    this.dueAtMs = undefined;
    if (due === undefined) return undefined;
    const lateMs = nowMs - due;
    if (lateMs < this.warnAfterMs) return undefined;
    if (nowMs - this.lastWarnedMs < this.quietMs) {
      this.unreported++;
      return undefined;
    }
    this.lastWarnedMs = nowMs;
    const unreported = this.unreported;
    this.unreported = 0;
    return { lateMs, unreported };
  }
}
