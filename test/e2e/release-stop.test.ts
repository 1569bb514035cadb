/**
 * `cluster ps:stop release.N` of a release command (docs/boot-checks.md#release-phase): its release
 * fails with a reason that says it was stopped, and the release running before stays live, also
 * when the command exits 0 on SIGTERM.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TestCluster } from '../helpers/test-cluster';
import { type PsWithRelease, type ReleaseRow, WEB } from '../helpers/release-apps';
import { waitFor } from '../helpers/wait-for';

describe('a stopped release command', { timeout: 120_000 }, () => {
  let cluster: TestCluster;
  const deploy = (name: string, release: string, extra: string[] = []) => {
    const dir = cluster.appDir(`api-${name}`, { Procfile: `web: ${WEB}\nrelease: ${release}\n` });
    return cluster.cli(['deploy', dir, '-a', 'api', ...extra], { timeoutMs: 90_000 });
  };
  const releases = async () => (await cluster.cliJson<{ releases: ReleaseRow[] }>(['releases', '-a', 'api'])).releases;
  const web = async () => ((await cluster.ps('api')) as PsWithRelease[]).find((i) => i.name === 'web.1')!;

  before(async () => {
    cluster = await TestCluster.start({ agents: [{ id: 'host-a' }] });
    await cluster.ok(['apps:create', 'api']);
    const res = await deploy('v1', 'true', ['--wait']);
    assert.equal(res.code, 0, res.stderr);
    await cluster.ok(['scale', 'web=1', '-a', 'api', '--wait']);
  });

  after(async () => {
    await cluster?.stop();
  });

  for (const [how, command] of [
    ['exits 0 on SIGTERM', `trap 'echo interrupted; exit 0' TERM; while true; do sleep 0.1; done`],
    ['dies of SIGTERM', 'while true; do sleep 0.1; done'],
  ] as const) {
    it(`fails its release when stopped, also a command that ${how}, and the running release stays live`, async () => {
      const live = (await web()).release;
      const waiting = deploy(how.replace(/\W+/g, '-'), command, ['--wait']);
      const version = await waitFor('the release command running', async () => {
        const [newest] = await releases();
        return newest!.phase === 'running' && ((await cluster.ps('api')) as PsWithRelease[]).some((i) => i.name === `release.${newest!.version}` && i.state === 'up') ? newest!.version : undefined;
      }, 30_000);
      const stop = await cluster.cli(['ps:stop', `release.${version}`, '-a', 'api']);
      assert.equal(stop.code, 0, stop.stdout + stop.stderr);
      const res = await waiting;
      assert.equal(res.code, 1, res.stdout + res.stderr);
      assert.match(res.stderr, new RegExp(`the release command of v${version} failed: stopped on request \\(\`cluster ps:stop\` or \`ps:kill\`\\)`));
      const [stopped] = await releases();
      assert.deepEqual([stopped!.version, stopped!.phase, stopped!.deployed], [version, 'failed', false]);
      assert.match(stopped!.phaseReason!, /^stopped on request \(`cluster ps:stop` or `ps:kill`\): (exited with status 0|killed by SIGTERM \(status 143\))$/);
      assert.equal((await web()).release, live, `web.1 stays on v${live}`);
    });
  }
});
