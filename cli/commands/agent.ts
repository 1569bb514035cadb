/** cluster agent start: run the agent daemon in the foreground. */
import * as os from 'node:os';
import * as path from 'node:path';
import type { Command } from 'commander';
import { Agent } from '../../agent/agent';
import { parsePortRange } from '../../agent/supervisor/ports';
import { runUntilSignalled } from '../../lib/daemon';
import { createLogger } from '../../lib/log';
import { clusterHome } from '../../lib/cluster-home';
import { agentIdProblem } from '../../lib/names';
import { resolveServer } from '../client';
import { fail } from '../command-kit';
import { UserError } from '../errors';
import { collectLabel, positiveInt } from '../parse';
import { VERSION } from '../version';

interface AgentStartOptions {
  server?: string;
  dataDir: string;
  name: string;
  datacenter: string;
  label: Record<string, string>;
  capacity: string;
  advertise?: string;
  listen: string;
  ports: string;
  stopGrace: string;
}

export function registerAgent(program: Command): void {
  const agent = program.command('agent').description('agent daemon (one per server)');
  agent
    .command('start')
    .description('run the agent daemon in the foreground')
    .option('--data-dir <dir>', 'where to keep slugs, logs and state', path.join(clusterHome(), 'agent'))
    .option('--name <id>', 'agent id (default: the host name)', os.hostname())
    .option('--datacenter <dc>', 'datacenter label', 'default')
    .option('--label <k=v>', 'a label for placement rules (repeatable)', collectLabel, {})
    .option('--capacity <n>', 'most instances this agent runs', '1000')
    .option('--listen <host:port>', 'where the agent serves logs to the control plane', '0.0.0.0:7601')
    .option('--advertise <host:port>', 'address the control plane dials (default: the listen address)')
    .option('--ports <from-to>', 'range of PORT values handed to instances', '5000-5999')
    .option('--stop-grace <seconds>', 'SIGTERM → SIGKILL for types without their own (see ps:grace)', '30')
    .action(async (opts: AgentStartOptions, cmd: Command) => {
      try {
        const problem = agentIdProblem(opts.name);
        if (problem) throw new UserError(problem);
        let ports;
        try {
          ports = parsePortRange(opts.ports);
        } catch (err) {
          throw new UserError(`--ports ${opts.ports}: ${(err as Error).message}`);
        }
        const logger = createLogger('agent');
        const running = await Agent.start({
          server: resolveServer(cmd.optsWithGlobals<{ server?: string }>().server),
          dataDir: path.resolve(opts.dataDir),
          listen: opts.listen,
          advertise: opts.advertise,
          identity: {
            id: opts.name,
            datacenter: opts.datacenter,
            labels: opts.label,
            capacity: positiveInt(opts.capacity, '--capacity'),
            version: VERSION,
          },
          ports,
          stopGraceMs: positiveInt(opts.stopGrace, '--stop-grace') * 1000,
          logger,
        });
        runUntilSignalled(logger, () => running.close());
      } catch (err) {
        fail(err);
      }
    });
}
