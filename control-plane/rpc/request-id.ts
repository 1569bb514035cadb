/** The request id a call carries (lib/request-id.ts), checked; undefined when it has none (older CLIs). */
import type * as grpc from '@grpc/grpc-js';
import { REQUEST_ID_METADATA, requestIdProblem } from '../../lib/request-id';
import { InvalidArgumentError } from '../errors';

export function requestIdOf(call: { metadata?: grpc.Metadata }): string | undefined {
  const values = call.metadata?.get(REQUEST_ID_METADATA) ?? [];
  if (values.length === 0) return undefined;
  const id = String(values[0]);
  const problem = values.length > 1 ? `${REQUEST_ID_METADATA} given ${values.length} times` : requestIdProblem(id);
  if (problem) throw new InvalidArgumentError(problem);
  return id;
}
