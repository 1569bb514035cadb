/** Finds the control plane and gives a typed client for it. */
import * as grpc from '@grpc/grpc-js';
import { apiProto, CHANNEL_OPTIONS } from '../proto/load';
import type { ClusterApiClient } from '../proto/gen/cluster/api/ClusterApi';
import { readDevState } from '../lib/cluster-home';
import { UserError } from './errors';

export const DEFAULT_SERVER = '127.0.0.1:7600';

/** --server, then CLUSTER_SERVER, then a running `cluster dev`, then the default port. */
export function resolveServer(flag?: string): string {
  return flag || process.env.CLUSTER_SERVER || readDevState()?.server || DEFAULT_SERVER;
}

export function connect(server: string): ClusterApiClient {
  const Client = apiProto().ClusterApi;
  return new Client(server, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
}

/** --app, then CLUSTER_APP; a clear error when neither is given. */
export function resolveApp(flag?: string): string {
  const app = flag || process.env.CLUSTER_APP;
  if (!app) throw new UserError('no app given: pass --app NAME (or -a NAME, or set CLUSTER_APP)');
  return app;
}
