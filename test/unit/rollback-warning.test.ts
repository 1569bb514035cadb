/** rollbackWarning (cli/commands/releases.ts): a rollback to a release whose release command failed says so. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rollbackWarning } from '../../cli/commands/releases';

describe('rollback warning', () => {
  it('warns of a release whose release command failed, naming its status and where its output is', () => {
    assert.equal(
      rollbackWarning('api', { version: 3, phase: 'failed', phase_reason: 'exited with status 3' }),
      'the release command of v3 failed (exited with status 3); a rollback does not run it, so its code runs now without what that command did ' +
        '(its output: `cluster logs -a api --ps release.3`; run it by hand with `cluster run -a api -- COMMAND`)',
    );
  });

  it('says nothing of a release without a release command, one whose command passed or ran on, or one not found', () => {
    for (const phase of ['', 'succeeded', 'superseded', 'running']) assert.equal(rollbackWarning('api', { version: 2, phase, phase_reason: '' }), undefined, phase);
    assert.equal(rollbackWarning('api', undefined), undefined);
  });
});
