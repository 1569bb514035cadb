/**
 * A gRPC transport failure in a few words, for messages people read. grpc-js says it at length
 * ("No connection established. Last error: Error: connect ECONNREFUSED 10.0.0.7:7601. Resolution
 * note: "), and only as text: these patterns choose words, never what happens next.
 */
export function transportReason(details: string): string {
  if (/ECONNREFUSED/.test(details)) return 'connection refused';
  if (/Connection dropped|ECONNRESET|socket hang up|Channel closed|EPIPE/i.test(details)) return 'connection lost';
  if (/ETIMEDOUT|EHOSTUNREACH|ENETUNREACH/.test(details)) return 'host unreachable';
  if (/Deadline exceeded/i.test(details)) return 'no answer in time';
  const plain = details.replace(/\.? ?Resolution note:.*$/s, '').replace(/^No connection established\. Last error: (Error: )?/, '').trim();
  return plain === '' || plain === 'null' ? 'no connection' : plain;
}
