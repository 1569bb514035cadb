/** Finds the control plane and gives a typed client for it. */
import * as grpc from '@grpc/grpc-js';
import { apiProto, CHANNEL_OPTIONS } from '../proto/load';
import type { ClusterApiClient } from '../proto/gen/cluster/api/ClusterApi';
import { readDevState } from '../lib/cluster-home';
import { UserError } from './errors';
import { credentialFor } from '../lib/credentials';
import { CONTROL_PLANE_NAME } from '../lib/pki';
import { channelCredentials, StaticCertificateProvider, targetName } from '../lib/tls';

export const DEFAULT_SERVER = '127.0.0.1:7600';

/** --server, then CLUSTER_SERVER, then a running `cluster dev`, then the default port. */
export function resolveServer(flag?: string): string {
  return flag || process.env.CLUSTER_SERVER || readDevState()?.server || DEFAULT_SERVER;
}

/** A client for `server`: over mutual TLS when we hold a credential for it, else plaintext (dev clusters). */
export function connect(server: string): ClusterApiClient {
  const Client = apiProto().ClusterApi;
  const credential = credentialFor(server);
  if (!credential) return new Client(server, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
  const provider = new StaticCertificateProvider(credential);
  return new Client(server, channelCredentials(provider), { ...CHANNEL_OPTIONS, ...targetName(CONTROL_PLANE_NAME) });
}

/** --app, then CLUSTER_APP; a clear error when neither is given. */
export function resolveApp(flag?: string): string {
  const app = flag || process.env.CLUSTER_APP;
  if (!app) throw new UserError('no app given: pass --app NAME (or -a NAME, or set CLUSTER_APP)');
  return app;
}
