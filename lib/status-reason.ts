/**
 * Why the control plane answered a call with a status it shares with transport failures:
 * sent as a trailer, so the CLI can tell "etcd is down" from "the control plane is down".
 */
export const REASON_HEADER = 'cluster-reason';
/** The control plane is up, but etcd could not be reached from it. */
export const ETCD_UNAVAILABLE = 'etcd-unavailable';
