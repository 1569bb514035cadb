/**
 * What the control plane's HTTP listener serves at /metrics: `controlPlaneMetrics(ctx)` gives
 * this replica's registry (created with the replica, see control-plane.ts) as Prometheus text.
 */
import type { ApiContext } from '../rpc/context';

export type { ControlPlaneMetrics } from './control-plane-metrics';

/** The replica's metrics in the Prometheus text format: serve `render()` with `contentType`. */
export function controlPlaneMetrics(ctx: ApiContext): { contentType: string; render(): Promise<string> } {
  const metrics = ctx.metrics;
  return { contentType: metrics.contentType, render: () => metrics.render() };
}
