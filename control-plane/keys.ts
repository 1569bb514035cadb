/**
 * The etcd key layout. Nothing else in the project builds key strings.
 *
 *   <prefix>apps/<app>                               app record
 *   <prefix>releases/<app>/<version, zero-padded>    release
 *   <prefix>formation/<app>                          desired count per type, restart tokens, grace periods, placement rules
 *   <prefix>agents/<agentId>                         registration (agent's lease)
 *   <prefix>known/<agentId>                          the agent as it last registered, without a lease: a
 *                                                    server that went away is listed `down` until
 *                                                    `agents:remove` (docs/process-servers.md)
 *   <prefix>drains/<agentId>                         the agent is drained (`agents:drain`); no lease, so
 *                                                    it outlives restarts and re-registrations
 *   <prefix>web/<agentId>                            whether the agent runs `web` (process servers;
 *                                                    no lease, so the toggle outlives restarts)
 *   <prefix>assignments/<agentId>/<app>/<instance>   what an agent must run (leader writes)
 *   <prefix>assignments/<agentId>/@<app>             the same, every instance of the app on that agent
 *                                                    in one value (state/packed-assignments.ts)
 *   <prefix>oneoffs/<agentId>                        how many one-off processes the agent runs, as its
 *                                                    last status report said (agent's lease; absent: none)
 *   <prefix>status/<app>/<instance>/<agentId>        what an agent observes (agent's lease)
 *   <prefix>status/<app>/@<agentId>                  the same, every instance of the app on that agent
 *                                                    in one value (state/packed-statuses.ts)
 *   <prefix>unplaced/<app>                           instances the leader could not place, and why
 *   <prefix>logsources/<app>/<agentId>               agents that keep log lines of the app (under the
 *                                                    agent's log-source lease, which outlives its
 *                                                    registration by a day: agents/log-source-records.ts)
 *   <prefix>logleases/<agentId>                      that lease's id (under the lease itself)
 *   <prefix>runs/<app>                               the last one-off number given out (run.N)
 *   <prefix>schedules/<app>/<job>                    a scheduled job (`schedule:add`; docs/scheduled-jobs.md)
 *   <prefix>cronstate/<app>/<job>                    its last claimed tick, runs in flight, history (leader writes)
 *   <prefix>slugholders/<digest>/<replicaId>         the replica keeps slug <digest> on disk: its address
 *                                                    (under that replica's slug lease; see slugs/)
 *   <prefix>ca                                       the cluster CA (certificate and key; see security/)
 *   <prefix>tokens/<id>                              join tokens (hashed secret, expiry, uses left)
 *   <prefix>dashboard/links/<sha256>                 a one-use dashboard login link (its own lease)
 *   <prefix>dashboard/sessions/<sha256>              a dashboard session and its CSRF token (its own lease)
 *   <prefix>leader                                   the scheduling replica (its lease)
 *   <prefix>replicas/<replicaId>                     a live control-plane replica: its advertised gRPC
 *                                                    address (the replica's own lease)
 *   <prefix>requests/<requestId>                     a change a CLI request made, and its result, so that
 *                                                    a retry answers it again (a 10-minute lease;
 *                                                    state/request-records.ts)
 *
 * Releases, formations and the like live under top-level prefixes of their own (rather
 * than under apps/<app>/…) so that listing apps or watching formations reads only what
 * it needs. Status keys carry the agent id so two agents never overwrite each other's
 * report of an instance while it moves.
 */
export class Keys {
  constructor(readonly prefix = '/cluster/') {
    if (!prefix.endsWith('/')) this.prefix = `${prefix}/`;
  }

  apps(): string { return `${this.prefix}apps/`; }
  app(app: string): string { return `${this.apps()}${app}`; }

  allReleases(): string { return `${this.prefix}releases/`; }
  releases(app: string): string { return `${this.allReleases()}${app}/`; }
  release(app: string, version: number): string {
    return `${this.releases(app)}${String(version).padStart(10, '0')}`;
  }
  /** The app of a release key; undefined for anything else. */
  parseReleaseApp(key: string): string | undefined {
    const parts = this.after(key, this.allReleases())?.split('/');
    return parts?.length === 2 && parts[0] ? parts[0] : undefined;
  }

  formations(): string { return `${this.prefix}formation/`; }
  formation(app: string): string { return `${this.formations()}${app}`; }

  agents(): string { return `${this.prefix}agents/`; }
  agent(id: string): string { return `${this.agents()}${id}`; }

  knownAgents(): string { return `${this.prefix}known/`; }
  knownAgent(id: string): string { return `${this.knownAgents()}${id}`; }

  drains(): string { return `${this.prefix}drains/`; }
  drain(id: string): string { return `${this.drains()}${id}`; }

  allOneOffCounts(): string { return `${this.prefix}oneoffs/`; }
  oneOffCount(agentId: string): string { return `${this.allOneOffCounts()}${agentId}`; }

  webToggles(): string { return `${this.prefix}web/`; }
  webToggle(id: string): string { return `${this.webToggles()}${id}`; }

  /** An agent's restart hold (RestartHoldRecord), under a lease of the hold's length. */
  restartHolds(): string { return `${this.prefix}restartholds/`; }
  restartHold(id: string): string { return `${this.restartHolds()}${id}`; }

  allAssignments(): string { return `${this.prefix}assignments/`; }
  assignments(agentId: string): string { return `${this.allAssignments()}${agentId}/`; }
  assignment(agentId: string, app: string, instance: string): string {
    return `${this.assignments(agentId)}${app}/${instance}`;
  }
  /** Every instance of `app` placed on agent `agentId`, in one value (state/packed-assignments.ts). */
  packedAssignments(agentId: string, app: string): string {
    return `${this.assignments(agentId)}@${app}`;
  }
  /** Splits a packed assignments key into its parts; undefined for anything else. */
  parsePackedAssignments(key: string): { agentId: string; app: string } | undefined {
    const [agentId, app] = this.packedParts(key, this.allAssignments()) ?? [];
    return agentId && app ? { agentId, app } : undefined;
  }
  /** Splits an assignment key into its parts; undefined for anything else. */
  parseAssignment(key: string): { agentId: string; app: string; instance: string } | undefined {
    const rest = this.after(key, this.allAssignments());
    const parts = rest?.split('/');
    if (!parts || parts.length !== 3) return undefined;
    return { agentId: parts[0]!, app: parts[1]!, instance: parts[2]! };
  }

  allStatus(): string { return `${this.prefix}status/`; }
  statuses(app: string): string { return `${this.allStatus()}${app}/`; }
  status(app: string, instance: string, agentId: string): string {
    return `${this.statuses(app)}${instance}/${agentId}`;
  }

  /** An agent's statuses of every instance of `app` it runs, in one value (state/packed-statuses.ts). */
  packedStatus(app: string, agentId: string): string {
    return `${this.statuses(app)}@${agentId}`;
  }
  /** Splits a packed status key into its parts; undefined for anything else. */
  parsePackedStatus(key: string): { app: string; agentId: string } | undefined {
    const [app, agentId] = this.packedParts(key, this.allStatus()) ?? [];
    return app && agentId ? { app, agentId } : undefined;
  }

  /** Splits a status key into its parts; undefined for anything else. */
  parseStatus(key: string): { app: string; instance: string; agentId: string } | undefined {
    const rest = this.after(key, this.allStatus());
    const parts = rest?.split('/');
    if (!parts || parts.length !== 3 || parts.some((p) => p === '')) return undefined;
    return { app: parts[0]!, instance: parts[1]!, agentId: parts[2]! };
  }

  allUnplaced(): string { return `${this.prefix}unplaced/`; }
  unplaced(app: string): string { return `${this.allUnplaced()}${app}`; }

  logSources(app: string): string { return `${this.prefix}logsources/${app}/`; }
  logSource(app: string, agentId: string): string { return `${this.logSources(app)}${agentId}`; }
  logLease(agentId: string): string { return `${this.prefix}logleases/${agentId}`; }

  runCounter(app: string): string { return `${this.prefix}runs/${app}`; }

  allSchedules(): string { return `${this.prefix}schedules/`; }
  schedules(app: string): string { return `${this.allSchedules()}${app}/`; }
  schedule(app: string, job: string): string { return `${this.schedules(app)}${job}`; }
  allCronStates(): string { return `${this.prefix}cronstate/`; }
  cronStates(app: string): string { return `${this.allCronStates()}${app}/`; }
  cronState(app: string, job: string): string { return `${this.cronStates(app)}${job}`; }

  allSlugHolders(): string { return `${this.prefix}slugholders/`; }
  slugHolders(digest: string): string { return `${this.allSlugHolders()}${digest}/`; }
  slugHolder(digest: string, replicaId: string): string { return `${this.slugHolders(digest)}${replicaId}`; }

  ca(): string { return `${this.prefix}ca`; }
  token(id: string): string { return `${this.prefix}tokens/${id}`; }

  dashboardLink(hash: string): string { return `${this.prefix}dashboard/links/${hash}`; }
  dashboardSession(hash: string): string { return `${this.prefix}dashboard/sessions/${hash}`; }

  leader(): string { return `${this.prefix}leader`; }

  replicas(): string { return `${this.prefix}replicas/`; }
  replica(id: string): string { return `${this.replicas()}${id}`; }

  request(id: string): string { return `${this.prefix}requests/${id}`; }

  /** The last path segment of a key under `base` (an app name, an agent id). */
  after(key: string, base: string): string | undefined {
    return key.startsWith(base) ? key.slice(base.length) : undefined;
  }

  /** `<base><owner>/@<name>` (a packed value's key) as [owner, name]; undefined for anything else. */
  private packedParts(key: string, base: string): [string, string] | undefined {
    const parts = this.after(key, base)?.split('/');
    if (!parts || parts.length !== 2 || !parts[0] || !parts[1]?.startsWith('@') || parts[1].length < 2) return undefined;
    return [parts[0], parts[1].slice(1)];
  }
}
