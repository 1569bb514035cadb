/**
 * What an agent sends when it registers, checked at the edge: its id, labels, capacity and port
 * count, and the address the control plane records for it.
 */
import { agentIdProblem } from '../../lib/names';
import { agentLabelCountProblem } from '../../lib/limits';
import { hostPort, peerIp } from '../../lib/peer-address';
import { InvalidArgumentError, LimitExceededError } from '../errors';

export function requireAgentId(id: string): string {
  const problem = agentIdProblem(id);
  if (problem) throw new InvalidArgumentError(problem);
  return id;
}

/**
 * Refuses more labels than an agent may carry. Names placement rules cannot spell are taken as
 * they are: `agent start` only warns about them (an agent set up before that check must still
 * register), and `agent join` and join tokens refuse them.
 */
export function checkLabelCount(labels: Record<string, string>): void {
  const problem = agentLabelCountProblem(labels);
  if (problem) throw new LimitExceededError(`register: ${problem}`);
}

/** The most instances (each takes a port) or ports an agent can have: a port range's size. */
const MAX_AGENT_PORTS = 65_535;
/** An agent's default capacity when it sends none. */
export const DEFAULT_CAPACITY = 1000;

/**
 * An agent's capacity or port count: 0 is "not given" (proto3 cannot tell it from unset),
 * anything else a whole number a port range can hold. `agent start` lowers --capacity to the
 * size of --ports, so an agent never sends more.
 */
export function agentCount(value: number, field: 'capacity' | 'ports'): number {
  if (Number.isInteger(value) && value >= 0 && value <= MAX_AGENT_PORTS) return value;
  throw new InvalidArgumentError(`register: ${field} ${value}: give 0 (the default) or a whole number from 1 to ${MAX_AGENT_PORTS}`);
}

/**
 * The address to record for an agent: the one it gives (`--advertise`, or a specific listen
 * address), else the IP its call came from with the port it serves on: an address that
 * routes from here, unlike a host name other machines may not resolve.
 */
export function agentAddress(given: string, listenPort: number, peer: string): string {
  if (given) return given;
  if (!Number.isInteger(listenPort) || listenPort < 1 || listenPort > 65535) {
    throw new InvalidArgumentError('register: give an address or the port the agent listens on (listen_port 1-65535)');
  }
  const ip = peerIp(peer);
  if (!ip) throw new InvalidArgumentError(`register: cannot tell the agent's address from the connection (${peer}): start the agent with --advertise HOST:PORT`);
  return hostPort(ip, listenPort);
}
