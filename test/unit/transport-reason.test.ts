/** lib/transport-reason.ts: grpc-js's transport failures in a few words. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { transportReason } from '../../lib/transport-reason';

describe('transportReason', () => {
  it('names the usual failures in a few words', () => {
    for (const [details, words] of [
      ['No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.3:40123. Resolution note: ', 'connection refused'],
      ['Connection dropped', 'connection lost'],
      ['read ECONNRESET', 'connection lost'],
      ['No connection established. Last error: Error: connect EHOSTUNREACH 10.0.0.9:7601. Resolution note: ', 'host unreachable'],
      ['Deadline exceeded after 5.001s', 'no answer in time'],
      ['No connection established. Last error: null. Resolution note: ', 'no connection'],
      ['No connection established. Last error: Error: getaddrinfo ENOTFOUND web-9. Resolution note: ', 'getaddrinfo ENOTFOUND web-9'],
      ['something else entirely', 'something else entirely'],
    ] as const) {
      assert.equal(transportReason(details), words, details);
    }
  });
});
