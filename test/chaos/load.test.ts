/** Chaos: load and bad input (see docs/chaos.md). */
import { describe } from 'node:test';
import { chaosTest } from './lib/suite';

describe('chaos: load and bad input', () => {
  chaosTest('burst', 150_000);
  chaosTest('agent-mid-spawn', 120_000);
  chaosTest('huge-procfile', 90_000);
});
