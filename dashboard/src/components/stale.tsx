import type { Staleness } from '../types';

/** The banner shown while the control plane cannot read etcd and shows its last view. */
export function StaleBanner(props: { stale?: Staleness | null }) {
  const s = props.stale;
  if (!s || !s.stale_ms) return null;
  return <p class="banner warn" role="alert">Last known state, {Math.round(s.stale_ms / 1000)} s old: {s.reason}</p>;
}

/** Shown while a live page has lost its stream (the browser reconnects by itself). */
export function Reconnecting(props: { live: { connected: boolean; data?: unknown } }) {
  if (props.live.connected || props.live.data === undefined) return null;
  return <p class="banner warn" role="status">Connection to the control plane lost; reconnecting…</p>;
}
