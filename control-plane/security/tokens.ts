/**
 * Join tokens, as kubeadm's: `<id>.<secret>`, short-lived, limited uses. Only a hash of
 * the secret is stored; each use is a revision-checked transaction, so a token meant
 * for one server cannot join two, even through two replicas at once.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Etcd3 } from 'etcd3';
import { commitIf, unchangedSince } from '../etcd/batch';
import { InvalidArgumentError, UnauthenticatedError } from '../errors';
import type { Keys } from '../keys';
import { decode, encode } from '../records';
import { MAX_TOKEN_TTL_S, MAX_TOKEN_USES } from '../../lib/limits';

export type TokenKind = 'agent' | 'operator';

export interface TokenRecord {
  kind: TokenKind;
  secretHash: string;
  expiresAtMs: number;
  usesLeft: number;
  labels: Record<string, string>;
  datacenter: string;
}

/** The token was not accepted (unknown, wrong secret, expired, used up, or of another kind). */
export class TokenRejectedError extends UnauthenticatedError {
  override name = 'TokenRejectedError';
}

const TOKEN = /^([a-z0-9]{6})\.([a-z0-9]{16,64})$/;

function hash(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

function alnum(bytes: number): string {
  return randomBytes(bytes).toString('base64').replace(/[^a-z0-9]/gi, '').toLowerCase();
}

export class TokenStore {
  constructor(private readonly client: Etcd3, private readonly keys: Keys) {}

  async create(opts: { kind: TokenKind; ttlSeconds: number; uses: number; labels: Record<string, string>; datacenter: string }): Promise<{ token: string; expiresAtMs: number }> {
    if (!(opts.ttlSeconds > 0 && opts.ttlSeconds <= MAX_TOKEN_TTL_S)) throw new InvalidArgumentError(`--ttl must be from 1 s to 7 days`);
    if (!(Number.isInteger(opts.uses) && opts.uses >= 1 && opts.uses <= MAX_TOKEN_USES)) throw new InvalidArgumentError(`--uses must be a whole number from 1 to ${MAX_TOKEN_USES}`);
    let id = '';
    while (id.length < 6) id += alnum(6);
    id = id.slice(0, 6);
    let secret = '';
    while (secret.length < 24) secret += alnum(24);
    secret = secret.slice(0, 24);
    const expiresAtMs = Date.now() + opts.ttlSeconds * 1000;
    const record: TokenRecord = { kind: opts.kind, secretHash: hash(secret), expiresAtMs, usesLeft: opts.uses, labels: opts.labels, datacenter: opts.datacenter };
    // The token's own lease would need keepalives; expiry is checked on use instead.
    if (!(await commitIf(this.client, [unchangedSince(this.keys.token(id), '0')], [{ put: this.keys.token(id), value: encode(record) }]))) {
      return this.create(opts); // an id collision: try another
    }
    return { token: `${id}.${secret}`, expiresAtMs };
  }

  /** Uses the token once; returns what it grants. `accept` may refuse what it grants first (it throws): the token is not spent then. */
  async consume(token: string, kind: TokenKind, accept: (record: TokenRecord) => void = () => undefined): Promise<TokenRecord> {
    // Named for what it is used for: an agent's join token, or an operator's login token.
    const what = kind === 'agent' ? 'join token' : 'login token';
    const remake = kind === 'agent' ? '`cluster agents:token`' : '`cluster operators:token`';
    const m = TOKEN.exec(token.trim());
    if (!m) throw new TokenRejectedError(`the ${what} is malformed (expected \`abcdef.0123456789abcdef…\`)`);
    const key = this.keys.token(m[1]!);
    for (let attempt = 0; attempt < 10; attempt++) {
      const res = await this.client.kv.range({ key: Buffer.from(key) });
      const kv = res.kvs[0];
      const record = kv ? decode<TokenRecord>(kv.value) : undefined;
      const expected = Buffer.from(hash(m[2]!));
      if (!record || !timingSafeEqual(Buffer.from(record.secretHash), expected)) throw new TokenRejectedError(`the ${what} is not known to this cluster`);
      if (record.kind !== kind) throw new TokenRejectedError(`the token is for ${record.kind === 'agent' ? 'agents' : 'operators'}, not for ${kind === 'agent' ? 'agents' : 'operators'}`);
      if (record.expiresAtMs < Date.now()) throw new TokenRejectedError(`the ${what} has expired: make a new one with ${remake}`);
      if (record.usesLeft <= 0) throw new TokenRejectedError(`the ${what} has been used up: make a new one with ${remake}`);
      accept(record);
      const next = { ...record, usesLeft: record.usesLeft - 1 };
      if (await commitIf(this.client, [unchangedSince(key, kv!.mod_revision)], [{ put: key, value: encode(next) }])) return record;
    }
    throw new TokenRejectedError(`the ${what} is being used by many servers at once; try again`);
  }
}
