/** Writes many puts and deletes in as few etcd transactions as allowed (128 operations each). */
import type { Etcd3 } from 'etcd3';
import type { ICompare, IRequestOp } from 'etcd3/lib/rpc';

/** etcd's default --max-txn-ops. */
export const MAX_TXN_OPS = 128;

export type WriteOp =
  | { put: string; value: string; lease?: string }
  | { delete: string; prefix?: boolean };

function toRequestOp(op: WriteOp): IRequestOp {
  if ('put' in op) {
    return { request_put: { key: Buffer.from(op.put), value: Buffer.from(op.value), lease: op.lease } };
  }
  const key = Buffer.from(op.delete);
  return { request_delete_range: op.prefix ? { key, range_end: prefixEnd(key) } : { key } };
}

/** The end of the key range that holds every key starting with `prefix`. */
export function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]! += 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

/**
 * Commits `ops` in chunks guarded by `guard` (e.g. "I am still the leader").
 * Returns the revision of the last commit, or undefined when a guard failed (nothing
 * after the failed chunk is written).
 */
export async function commitInChunks(client: Etcd3, ops: WriteOp[], guard: ICompare[] = []): Promise<string | undefined> {
  const size = MAX_TXN_OPS - guard.length;
  let revision = '0';
  for (let i = 0; i < ops.length; i += size) {
    const chunk = ops.slice(i, i + size).map(toRequestOp);
    const res = await client.kv.txn({ compare: guard, success: chunk, failure: [] });
    if (!res.succeeded) return undefined;
    revision = res.header.revision;
  }
  return revision;
}

/** Commits up to 127 operations at once, only while every compare holds. */
export async function commitIf(client: Etcd3, guard: ICompare[], ops: WriteOp[]): Promise<boolean> {
  if (guard.length + ops.length > MAX_TXN_OPS) throw new Error(`transaction too large: ${guard.length + ops.length} operations`);
  const res = await client.kv.txn({ compare: guard, success: ops.map(toRequestOp), failure: [] });
  return res.succeeded;
}

/** A compare that holds while `key` was created at `createRevision` (a fencing token). */
export function createdAt(key: string, createRevision: string): ICompare {
  return { key: Buffer.from(key), target: 'Create', result: 'Equal', create_revision: createRevision };
}

/** A compare that holds while `key` is unchanged since `modRevision` ('0': while absent). */
export function unchangedSince(key: string, modRevision: string): ICompare {
  return { key: Buffer.from(key), target: 'Mod', result: 'Equal', mod_revision: modRevision };
}

/** A compare that holds while `key` exists. */
export function exists(key: string): ICompare {
  return { key: Buffer.from(key), target: 'Version', result: 'Greater', version: 0 };
}
