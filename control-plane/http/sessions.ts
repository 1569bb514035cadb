/**
 * Dashboard login links and sessions, kept in etcd so that every replica serves the same
 * dashboard: a link minted through one replica logs in through any other. Only a sha256 of
 * each secret is a key; each record has its own lease (it vanishes at expiry) and its expiry
 * is checked on read too (a lease may outlive its TTL by a moment). A link is consumed by a
 * revision-checked delete, so it works exactly once even when two replicas race for it.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Etcd3 } from 'etcd3';
import { commitIf, unchangedSince } from '../etcd/batch';
import { InvalidArgumentError } from '../errors';
import type { Keys } from '../keys';
import { decode, encode } from '../records';

/** How long a login link works by default (seconds): long enough to open a browser, short enough to leak little. */
export const LINK_TTL_S = 5 * 60;
/** The longest a login link may work (seconds). */
export const MAX_LINK_TTL_S = 15 * 60;
/** How long a session lasts after login (seconds): a working day. */
export const SESSION_TTL_S = 12 * 3600;

interface LinkRecord {
  expiresAtMs: number;
}

export interface Session {
  /** The double-submit token every state-changing request must carry (csrf.ts). */
  csrf: string;
  createdAtMs: number;
  expiresAtMs: number;
}

/** The link was refused: unknown, used already, or expired. */
export class LinkRejectedError extends Error {
  override name = 'LinkRejectedError';
}

const SECRET = /^[A-Za-z0-9_-]{43}$/;

function secret(): string {
  return randomBytes(32).toString('base64url'); // 43 characters
}

function hashOf(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export class DashboardSessions {
  constructor(private readonly client: Etcd3, private readonly keys: Keys, private readonly sessionTtlS = SESSION_TTL_S) {}

  /** A new one-use login link token, valid for `ttlS` seconds (1 to MAX_LINK_TTL_S). */
  async createLink(ttlS = LINK_TTL_S): Promise<{ token: string; expiresAtMs: number }> {
    if (!(Number.isFinite(ttlS) && ttlS >= 1 && ttlS <= MAX_LINK_TTL_S)) {
      throw new InvalidArgumentError(`a login link may work from 1 s to ${MAX_LINK_TTL_S / 60} minutes, not ${ttlS} s`);
    }
    const token = secret();
    const expiresAtMs = Date.now() + ttlS * 1000;
    await this.putWithLease(this.keys.dashboardLink(hashOf(token)), encode({ expiresAtMs } satisfies LinkRecord), Math.ceil(ttlS));
    return { token, expiresAtMs };
  }

  /** Uses a link token up; throws LinkRejectedError when it cannot be used. */
  async consumeLink(token: string): Promise<void> {
    const refused = new LinkRejectedError('this login link is not valid: it was used already, has expired, or was never made. Run `cluster dashboard` for a new one');
    if (!SECRET.test(token)) throw refused;
    const key = this.keys.dashboardLink(hashOf(token));
    const res = await this.client.kv.range({ key: Buffer.from(key) });
    const kv = res.kvs[0];
    const record = kv && decode<LinkRecord>(kv.value);
    if (!kv || !record) throw refused;
    // Whoever deletes it at the revision read wins; a second use finds it gone or changed.
    const won = await commitIf(this.client, [unchangedSince(key, kv.mod_revision)], [{ delete: key }]);
    if (!won || record.expiresAtMs < Date.now()) throw refused;
  }

  /** A new session: its id (the cookie's value) and record. */
  async createSession(): Promise<{ id: string; session: Session }> {
    const id = secret();
    const now = Date.now();
    const session: Session = { csrf: secret(), createdAtMs: now, expiresAtMs: now + this.sessionTtlS * 1000 };
    await this.putWithLease(this.keys.dashboardSession(hashOf(id)), encode(session), this.sessionTtlS);
    return { id, session };
  }

  /** The live session of a cookie value, or undefined. */
  async session(id: string | undefined): Promise<Session | undefined> {
    if (!id || !SECRET.test(id)) return undefined;
    const session = decode<Session>(await this.client.get(this.keys.dashboardSession(hashOf(id))).buffer());
    if (!session || typeof session.csrf !== 'string' || !(session.expiresAtMs > Date.now())) return undefined;
    return session;
  }

  async endSession(id: string): Promise<void> {
    if (SECRET.test(id)) await this.client.delete().key(this.keys.dashboardSession(hashOf(id)));
  }

  private async putWithLease(key: string, value: string, ttlS: number): Promise<void> {
    // A bare lease grant: the etcd3 Lease object would keep it alive (docs/stack-notes.md).
    const lease = await this.client.leaseClient.leaseGrant({ TTL: ttlS });
    await commitIf(this.client, [], [{ put: key, value, lease: lease.ID }]);
  }
}
