/**
 * agent/handover/instance-state.ts: an instance waiting out its crash loop backoff (no process)
 * is written in a list of its own and read back by the next run; a state file of an agent from
 * before that list reads as none waiting, and the running instances' list keeps only records
 * with a process, which is all an older agent reads.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AgentStateWriter, readAgentState, type WaitingRecord } from '../../agent/handover/instance-state';
import { bootId } from '../../agent/supervisor/proc-stat';
import { createLogger } from '../../lib/log';

const logger = createLogger('instance-state-test', 'silent');

const waiting: WaitingRecord = {
  app: 'shop', instance: 'crasher.1', type: 'crasher', spec: { app: 'shop' }, specKey: 'k',
  restarts: 5, crashes: 6, restartAtMs: 1_700_000_016_000, lastCrash: 'exited with status 3',
};

describe('instance state: instances waiting in their backoff', () => {
  it('writes them apart from the running instances and reads them back', async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'state-')), 'instances.json');
    const writer = new AgentStateWriter(file, 'a1', logger);
    writer.set('shop/crasher.1', waiting);
    await writer.flush();
    const raw = JSON.parse(fs.readFileSync(file, 'utf8')) as { version: number; instances: unknown[] };
    assert.deepEqual(raw.instances, [], 'nothing an older agent would take for a process');
    assert.equal(raw.version, 1, 'older agents still read the file');
    assert.deepEqual(readAgentState(file, 'a1').state?.waiting, [waiting]);
  });

  it('reads a file of an older agent (no list) as none waiting, and drops a malformed record', () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'state-')), 'instances.json');
    fs.writeFileSync(file, JSON.stringify({ version: 1, bootId: bootId(), agentId: 'a1', instances: [] }));
    assert.deepEqual(readAgentState(file, 'a1').state?.waiting, []);
    fs.writeFileSync(file, JSON.stringify({ version: 1, bootId: bootId(), agentId: 'a1', instances: [], waiting: [{ ...waiting, restartAtMs: 'soon' }, waiting] }));
    assert.deepEqual(readAgentState(file, 'a1').state?.waiting, [waiting]);
  });
});
