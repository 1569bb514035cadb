/** Chaos: control-plane replicas killed and restarted (see docs/chaos.md). */
import { describe } from 'node:test';
import { chaosTest } from './lib/suite';

describe('chaos: control planes', () => {
  chaosTest('leader-kill', 180_000);
  chaosTest('agents-replica', 90_000);
  chaosTest('sole-restart', 120_000);
});
