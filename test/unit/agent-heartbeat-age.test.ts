/** `cluster agents`' heartbeat column: what this replica heard, never an old figure for a live agent. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { heartbeatAgeMs } from '../../control-plane/api/agents';

describe('heartbeat age in cluster agents', () => {
  it('says how long ago this replica heard the agent', () => {
    assert.equal(heartbeatAgeMs(9_600, true, 10_000, 4_000), 400);
    assert.equal(heartbeatAgeMs(undefined, true, 10_000, 4_000), -1, 'never heard here');
  });

  it('gives no figure for a live agent heard here longer ago than the TTL: it heartbeats to another replica', () => {
    assert.equal(heartbeatAgeMs(10_000 - 117_000, true, 10_000, 4_000), -1);
  });

  it('keeps when a gone agent was last heard, however long ago, when its going was not seen here', () => {
    assert.equal(heartbeatAgeMs(10_000 - 117_000, false, 10_000, 4_000), 117_000);
  });

  it('dates a gone agent heard here long ago (it heartbeat to another replica since) a TTL before its registration went', () => {
    // Heard here 13 minutes ago; its lease ran out 31 s ago: its last heartbeat was 35 s ago.
    const now = 1_000_000;
    assert.equal(heartbeatAgeMs(now - 792_000, false, now, 4_000, now - 31_000), 35_000);
    assert.equal(heartbeatAgeMs(undefined, false, now, 4_000, now - 31_000), 35_000, 'never heard here');
    assert.equal(heartbeatAgeMs(now - 33_000, false, now, 4_000, now - 31_000), 33_000, 'heard here last: that is exact');
    assert.equal(heartbeatAgeMs(undefined, false, now, 4_000), -1, 'neither heard nor seen going');
  });
});
