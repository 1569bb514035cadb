/**
 * A signal that fires when the agent's link leaves its replica for another
 * (ControlPlaneLink.replicaLeft), then a fresh one for the next replica.
 */
import { setMaxListeners } from 'node:events';

export class ReplicaLeft {
  private controller = ReplicaLeft.unlimited();

  /** Aborted at the next switch. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** The link left its replica: calls given the current signal are cancelled. */
  fire(): void {
    const left = this.controller;
    this.controller = ReplicaLeft.unlimited();
    left.abort();
  }

  /** An AbortController whose signal takes any number of listeners (each call in flight adds one). */
  private static unlimited(): AbortController {
    const controller = new AbortController();
    setMaxListeners(0, controller.signal);
    return controller;
  }
}
