/** Writes many puts and deletes in as few etcd transactions as allowed (128 operations each). */
import type { Etcd3 } from 'etcd3';
import type { ICompare, IRequestOp } from 'etcd3/lib/rpc';

/** etcd's default --max-txn-ops. */
export const MAX_TXN_OPS = 128;
/**
 * Most bytes of keys and values in one transaction: etcd refuses a request over 1.5 MiB
 * (--max-request-bytes), so a plan of large values is cut into more, smaller transactions.
 */
export const MAX_TXN_BYTES = 1024 * 1024;

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
 * Returns the revision of the last commit, or undefined when a guard failed (no chunk is
 * started after that).
 *
 * Up to `concurrency` chunks are in flight at once (etcd commits concurrent transactions
 * in one raft round and one fsync, so a big plan is written several times faster than one
 * transaction after another), except the last chunk, which is committed alone after all the
 * others: its revision is then the highest, and it holds the last of `ops`.
 */
export async function commitInChunks(client: Etcd3, ops: WriteOp[], guard: ICompare[] = [], concurrency = 1): Promise<string | undefined> {
  const chunks = chunk(ops, MAX_TXN_OPS - guard.length, MAX_TXN_BYTES);
  const commit = async (chunk: WriteOp[]) => {
    const res = await client.kv.txn({ compare: guard, success: chunk.map(toRequestOp), failure: [] });
    return res.succeeded ? res.header.revision : undefined;
  };
  let failed = false;
  let next = 0;
  const worker = async () => {
    while (!failed && next < chunks.length - 1) {
      try {
        if ((await commit(chunks[next++]!)) === undefined) failed = true;
      } catch (err) {
        failed = true; // the other workers start nothing more
        throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, chunks.length - 1)) }, worker));
  if (failed) return undefined;
  if (chunks.length === 0) return '0';
  return commit(chunks[chunks.length - 1]!);
}

function opBytes(op: WriteOp): number {
  return 'put' in op ? Buffer.byteLength(op.put) + Buffer.byteLength(op.value) + 16 : Buffer.byteLength(op.delete) + 8;
}

/** Cuts `ops` into runs of at most `maxOps` operations and (unless one op alone is larger) `maxBytes` bytes. */
export function chunk(ops: WriteOp[], maxOps: number, maxBytes: number): WriteOp[][] {
  const chunks: WriteOp[][] = [];
  let current: WriteOp[] = [];
  let bytes = 0;
  for (const op of ops) {
    const size = opBytes(op);
    if (current.length > 0 && (current.length >= maxOps || bytes + size > maxBytes)) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(op);
    bytes += size;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

/** Commits up to 127 operations at once, only while every compare holds. */
export async function commitIf(client: Etcd3, guard: ICompare[], ops: WriteOp[]): Promise<boolean> {
  return (await commitIfAt(client, guard, ops)) !== undefined;
}

/** commitIf that returns the revision it wrote at; undefined when a compare failed. */
export async function commitIfAt(client: Etcd3, guard: ICompare[], ops: WriteOp[]): Promise<string | undefined> {
  if (guard.length + ops.length > MAX_TXN_OPS) throw new Error(`transaction too large: ${guard.length + ops.length} operations`);
  const res = await client.kv.txn({ compare: guard, success: ops.map(toRequestOp), failure: [] });
  return res.succeeded ? res.header.revision : undefined;
}

/** Every key under `prefix` with its value and the revision it was last written at. */
export async function readPrefix(client: Etcd3, prefix: string): Promise<Map<string, { value: Buffer; modRevision: string }>> {
  const key = Buffer.from(prefix);
  const res = await client.kv.range({ key, range_end: prefixEnd(key) });
  return new Map(res.kvs.map((kv) => [kv.key.toString(), { value: kv.value, modRevision: kv.mod_revision }]));
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
