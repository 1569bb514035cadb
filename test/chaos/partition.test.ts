/** Chaos: a partitioned host healed, with network namespaces (root only; see docs/chaos.md). */
import { describe } from 'node:test';
import { chaosTest } from './lib/suite';

describe('chaos: network partition', () => {
  chaosTest('partition', 120_000);
});
