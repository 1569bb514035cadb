/**
 * What makes a retried change apply once (docs/high-availability.md#retries-never-apply-twice):
 * a change made for a request id puts `requests/<id>` (what the request was, and its result) in
 * the same transaction, on the condition that the key is absent; a later attempt with the same id
 * (the CLI moved to another replica after an answer it did not get) finds the record and answers
 * the recorded result. Records expire with a lease: one lease per replica, reused for a minute,
 * so a record lives from REQUEST_RECORD_TTL_S - 60 s to REQUEST_RECORD_TTL_S.
 */
import { EtcdLeaseInvalidError, type Etcd3 } from 'etcd3';
import type { ICompare } from 'etcd3/lib/rpc';
import type { Keys } from '../keys';
import { commitIf, unchangedSince, type WriteOp } from '../etcd/batch';
import { decode, encode } from '../records';
import { InvalidArgumentError } from '../errors';

/** How long a request's record is kept: far longer than any client's retries. */
export const REQUEST_RECORD_TTL_S = 600;
const LEASE_REUSE_MS = 60_000;

interface RequestRecord {
  /** What the request did, e.g. `scale shop`: an id reused for another request is refused. */
  kind: string;
  result: unknown;
  atMs: number;
}

/** A request id and what the request does (`scale shop`): the record's identity. */
export interface RequestTag {
  id: string;
  kind: string;
}

export class RequestRecords {
  private lease: { id: string; grantedAtMs: number } | undefined;
  private granting: Promise<string> | undefined;

  constructor(private readonly client: Etcd3, private readonly keys: Keys) {}

  /** The result recorded for `tag`'s id; undefined when no change was made for it yet. */
  async recorded<T>(tag: RequestTag): Promise<{ result: T } | undefined> {
    const record = decode<RequestRecord>(await this.client.get(this.keys.request(tag.id)).buffer());
    if (!record) return undefined;
    if (record.kind !== tag.kind) {
      throw new InvalidArgumentError(`request id ${tag.id} was already used for another request (${record.kind}); send a new one`);
    }
    return { result: record.result as T };
  }

  /**
   * commitIf, plus (with a request) the request's record in the same transaction, on the
   * condition that it is absent: false when a compare failed (the caller reads again, and then
   * finds the record if another attempt of the request won).
   */
  async commit(compares: ICompare[], ops: WriteOp[], request: RequestTag | undefined, result: unknown): Promise<boolean> {
    if (!request) return commitIf(this.client, compares, ops);
    const record = await this.record(request, result);
    try {
      return await commitIf(this.client, [...compares, this.absent(request)], [...ops, record]);
    } catch (err) {
      // The records' lease expired (etcd restored, a clock jump): a new one, and read again.
      if (!(err instanceof EtcdLeaseInvalidError)) throw err;
      this.forgetLease();
      return false;
    }
  }

  /** The compare that goes with the change: no record for this id yet. */
  absent(tag: RequestTag): ICompare {
    return unchangedSince(this.keys.request(tag.id), '0');
  }

  /** The put that goes with the change: the record, under the records' lease. */
  async record(tag: RequestTag, result: unknown): Promise<WriteOp> {
    const value: RequestRecord = { kind: tag.kind, result, atMs: Date.now() };
    return { put: this.keys.request(tag.id), value: encode(value), lease: await this.leaseId() };
  }

  /** Forgets the lease (etcd said it is gone): the next record gets a new one. */
  forgetLease(): void {
    this.lease = undefined;
  }

  private async leaseId(): Promise<string> {
    if (this.lease && Date.now() - this.lease.grantedAtMs < LEASE_REUSE_MS) return this.lease.id;
    // One grant at a time; a bare grant, never kept alive (docs/stack-notes.md).
    this.granting ??= this.client.leaseClient
      .leaseGrant({ TTL: REQUEST_RECORD_TTL_S })
      .then((res) => {
        this.lease = { id: res.ID, grantedAtMs: Date.now() };
        return res.ID;
      })
      .finally(() => {
        this.granting = undefined;
      });
    return this.granting;
  }
}
