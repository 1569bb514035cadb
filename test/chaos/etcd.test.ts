/** Chaos: etcd outages (see docs/chaos.md). */
import { describe } from 'node:test';
import { chaosTest } from './lib/suite';

describe('chaos: etcd', () => {
  chaosTest('etcd-down', 120_000);
  chaosTest('etcd-member', 90_000);
  chaosTest('quorum', 120_000);
  chaosTest('etcd-pause', 120_000);
});
