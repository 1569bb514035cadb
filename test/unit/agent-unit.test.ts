import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { renderUnit, systemdQuote } from '../../cli/agent-install/unit';
import { renderSupervisorHelp } from '../../cli/agent-install/other-supervisors';
import { defaultJoinAndStartArgs, masked, type JoinFlags } from '../../cli/commands/agent-install';

const flags: JoinFlags = {
  server: '10.0.0.5:7600',
  token: 's3cret',
  caHash: 'sha256:ab12',
  datacenter: 'fra1',
  label: { role: 'web', tier: 'front' },
  name: 'web-01',
  dataDir: '/var/lib/cluster-agent',
  capacity: '200',
  advertise: '10.0.0.9:7601',
};

describe('agent install: the systemd unit', () => {
  it('runs `agent start` with absolute paths, restarts always, lets the agent stop its instances', () => {
    const unit = renderUnit({
      node: '/usr/bin/node',
      cli: '/opt/cluster/dist/cli/main.js',
      args: defaultJoinAndStartArgs.start(flags),
      stopTimeoutSeconds: 90,
    });
    assert.equal(
      unit,
      `# Written by \`cluster agent install\`; \`cluster agent uninstall\` removes it.
[Unit]
Description=cluster agent: runs this server's app processes for the control plane at 10.0.0.5:7600
After=network-online.target
Wants=network-online.target
StartLimitIntervalSec=0

[Service]
Type=simple
ExecStart=/usr/bin/node /opt/cluster/dist/cli/main.js agent start --server 10.0.0.5:7600 --name web-01 --data-dir /var/lib/cluster-agent --capacity 200 --advertise 10.0.0.9:7601
Restart=always
RestartSec=200ms
KillMode=process
TimeoutStopSec=90
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
`,
    );
    assert.ok(!unit.includes('s3cret'), 'the join token never reaches the unit');
  });

  it('quotes ExecStart words systemd would otherwise split or expand', () => {
    assert.equal(systemdQuote('/opt/my cluster/main.js'), '"/opt/my cluster/main.js"');
    assert.equal(systemdQuote('100%'), '100%%');
    assert.equal(systemdQuote('a$HOME'), '"a$$HOME"');
    assert.equal(systemdQuote('say "hi"'), '"say \\"hi\\""');
  });

  it('joins with the same flags and --no-start, and never prints the token', () => {
    const join = defaultJoinAndStartArgs.join(flags);
    assert.deepEqual(join, [
      'agent', 'join', '--server', '10.0.0.5:7600', '--token', 's3cret', '--ca-hash', 'sha256:ab12',
      '--name', 'web-01', '--data-dir', '/var/lib/cluster-agent', '--datacenter', 'fra1',
      '--label', 'role=web', '--label', 'tier=front', '--no-start',
    ]);
    assert.ok(!masked(join).includes('s3cret'));
    const help = renderSupervisorHelp({
      node: '/usr/bin/node',
      cli: '/opt/cluster/dist/cli/main.js',
      joinArgs: masked(join),
      startArgs: defaultJoinAndStartArgs.start(flags),
      stopTimeoutSeconds: 90,
    });
    assert.match(help, /exec \/usr\/bin\/node \/opt\/cluster\/dist\/cli\/main\.js agent start --server 10\.0\.0\.5:7600 .* 2>&1/);
    assert.match(help, /stopwaitsecs=90/);
    assert.ok(!help.includes('s3cret'));
  });
});
