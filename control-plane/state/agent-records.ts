/**
 * An agent's records as an operator changes them: its registration (`agents/<id>`, the agent's
 * lease), its last registration kept without a lease (`known/<id>`), its drain (`drains/<id>`)
 * and its web toggle (`web/<id>`; docs/process-servers.md).
 * Read from etcd, not from a mirror: a drain must not miss a fresh registration. Each write
 * returns the revision it was committed at, for waiting until this replica's mirror shows it.
 */
import { EtcdLeaseInvalidError, type Etcd3 } from 'etcd3';
import { commitInChunks, exists, unchangedSince } from '../etcd/batch';
import type { Keys } from '../keys';
import { decode, encode, type AgentRecord, type DrainRecord, type WebToggleRecord } from '../records';

/** A key that exists; `record` is undefined when its value does not decode (written by a bug or by hand). */
export interface Written<T> {
  record: T | undefined;
}

export class AgentRecords {
  constructor(
    private readonly client: Etcd3,
    private readonly keys: Keys,
  ) {}

  /** The agent as registered now; undefined when its lease is gone (or it never registered). */
  async registered(id: string): Promise<AgentRecord | undefined> {
    return decode<AgentRecord>(await this.client.get(this.keys.agent(id)).buffer());
  }

  /** The drain; undefined when the agent is not drained. */
  async drain(id: string): Promise<Written<DrainRecord> | undefined> {
    return this.written<DrainRecord>(this.keys.drain(id));
  }

  /** The web toggle; undefined when none was ever written. */
  async webToggle(id: string): Promise<Written<WebToggleRecord> | undefined> {
    return this.written<WebToggleRecord>(this.keys.webToggle(id));
  }

  /** Writes the drain only while the agent is registered (a vanished agent would be a ghost); undefined if it is not. */
  async drainWhileRegistered(id: string, record: DrainRecord): Promise<string | undefined> {
    return commitInChunks(this.client, [{ put: this.keys.drain(id), value: encode(record) }], [exists(this.keys.agent(id))]);
  }

  async removeDrain(id: string): Promise<string> {
    return (await commitInChunks(this.client, [{ delete: this.keys.drain(id) }]))!;
  }

  async setWebToggle(id: string, record: WebToggleRecord): Promise<string> {
    return (await commitInChunks(this.client, [{ put: this.keys.webToggle(id), value: encode(record) }]))!;
  }

  /**
   * Forgets an agent that is gone (`agents:remove`): what is known of it, its drain, its web
   * toggle and its restart hold, only while it is not registered; undefined if it registered meanwhile.
   */
  async removeWhileGone(id: string): Promise<string | undefined> {
    const ops = [this.keys.knownAgent(id), this.keys.drain(id), this.keys.webToggle(id), this.keys.restartHold(id)].map((key) => ({ delete: key }));
    return commitInChunks(this.client, ops, [unchangedSince(this.keys.agent(id), '0')]);
  }

  /**
   * Ends the agent's log-source lease, and with it `logsources/<app>/<id>`: `cluster logs` no
   * longer names a removed host as one whose lines it cannot reach. Nothing when there is none.
   */
  async forgetLogSources(id: string): Promise<void> {
    const lease = await this.client.get(this.keys.logLease(id)).string();
    if (lease) await this.client.leaseClient.leaseRevoke({ ID: lease }).catch((err: unknown) => {
      if (!(err instanceof EtcdLeaseInvalidError)) throw err; // expired meanwhile: done
    });
  }

  private async written<T extends object>(key: string): Promise<Written<T> | undefined> {
    const raw = await this.client.get(key).buffer();
    return raw === null ? undefined : { record: decode<T>(raw) };
  }
}
