/** Wording the control plane and the CLI share about drained agents. */

/**
 * Starts the `ps` reason of an instance that fits on no other agent and so keeps running on its
 * drained one: `cannot move off drained web-1: no agent with free capacity`.
 */
export const CANNOT_MOVE_OFF_DRAINED = 'cannot move off drained';
