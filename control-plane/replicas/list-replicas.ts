/** ListReplicas, served on both the cluster API and the agent API: who else can answer. */
import type * as grpc from '@grpc/grpc-js';
import type { ListReplicasReply } from '../../proto/gen/cluster/replicas/ListReplicasReply';
import type { ListReplicasRequest } from '../../proto/gen/cluster/replicas/ListReplicasRequest';
import type { ReplicaRegistry } from './registry';

export function replicasReply(registry: ReplicaRegistry): ListReplicasReply {
  return {
    replicas: registry.list().map((r) => ({ id: r.id, address: r.address, version: r.version, started_at: r.startedAt })),
    cluster_id: registry.clusterId,
    self_id: registry.selfId,
  };
}

export function listReplicasHandler(registry: () => ReplicaRegistry | undefined): grpc.handleUnaryCall<ListReplicasRequest, ListReplicasReply> {
  return (_call, callback) => {
    const r = registry();
    // Registered before the server starts answering; an empty list only in the instant before.
    callback(null, r ? replicasReply(r) : { replicas: [], cluster_id: '', self_id: '' });
  };
}
