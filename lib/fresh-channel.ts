/**
 * When to give up on a gRPC channel and dial afresh. grpc-js (1.14) has no connect timeout: a
 * connection attempt made while packets to the peer are dropped (a partition, a link so slow it
 * acts as one) waits on the kernel's SYN retransmissions, 1, 2, 4 … 32 s apart, and the channel
 * makes no other attempt meanwhile. Once the network is back, the channel stays unusable until
 * the next retransmission: up to half a minute and more. A fresh channel sends its first SYN at
 * once (docs/high-availability.md, "After a network fault").
 */
import * as grpc from '@grpc/grpc-js';

/**
 * A channel of its own subchannels: by default grpc-js shares one subchannel between identical
 * channels, and a fresh channel would take over the very attempt that is stuck.
 */
export const OWN_SUBCHANNELS: grpc.ChannelOptions = { 'grpc.use_local_subchannel_pool': 1 };

/**
 * A channel is replaced at most this often: each attempt given up stays with the kernel until
 * it connects or its SYNs run out (about 2 minutes), so replacing at every failure would pile
 * them up during a long fault, and they would all connect at once when it heals.
 */
export const FRESH_CHANNEL_MIN_AGE_MS = 5_000;

/** Whether a channel made at `madeAt` (epoch ms) is old enough to be replaced. */
export function oldEnoughToReplace(madeAt: number, now = Date.now()): boolean {
  return now - madeAt >= FRESH_CHANNEL_MIN_AGE_MS;
}

/** Whether a channel made at `madeAt` is still trying to connect (or waiting to retry) and old enough to be replaced. */
export function stuckConnecting(channel: grpc.Channel, madeAt: number, now = Date.now()): boolean {
  const state = channel.getConnectivityState(false);
  const trying = state === grpc.connectivityState.CONNECTING || state === grpc.connectivityState.TRANSIENT_FAILURE;
  return trying && oldEnoughToReplace(madeAt, now);
}
