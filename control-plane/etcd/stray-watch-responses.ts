/**
 * etcd 3.4 cancels a watch that fell behind a compaction; a response already in flight for it
 * then reaches etcd3's watch manager after the watcher is gone, and etcd3 throws "Failed to find
 * watcher for IWatchResponse" from inside the stream's data handler — an error with no caller to
 * catch it. Such a response belongs to no one: it is dropped (docs/stack-notes.md). Applied to
 * etcd3's WatchManager once per process; a version of etcd3 without that shape is left alone.
 */
import { WatchManager } from 'etcd3/lib/watch';

const PATCHED = Symbol('cluster.dropStrayWatchResponses');

interface ManagerInternals {
  watchers?: Array<{ id: string | null }>;
}
type HandleResponse = (this: ManagerInternals, res: { watch_id: string }) => void;

/** True when responses for unknown watchers are now dropped. */
export function dropStrayWatchResponses(): boolean {
  const proto = WatchManager.prototype as unknown as { handleResponse?: HandleResponse; [PATCHED]?: true };
  if (proto[PATCHED]) return true;
  const original = proto.handleResponse;
  if (typeof original !== 'function') return false;
  proto.handleResponse = function (this: ManagerInternals, res) {
    if (Array.isArray(this.watchers) && !this.watchers.some((w) => w.id === res.watch_id)) return;
    original.call(this, res);
  };
  proto[PATCHED] = true;
  return true;
}
