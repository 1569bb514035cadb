/** cluster login: trade an operator token for a credential for a remote control plane. */
import * as os from 'node:os';
import type { Command } from 'commander';
import { saveCredential } from '../../lib/credentials';
import { joinCluster } from '../../lib/join';
import { fail } from '../command-kit';
import { UserError } from '../errors';

export function registerLogin(program: Command): void {
  program
    .command('login')
    .description('store a credential for a remote control plane (token from `cluster operators:token`)')
    .requiredOption('--token <token>', 'the login token')
    .option('--ca-hash <sha256:…>', 'the pin of the cluster CA, as printed with the token')
    .option('--name <name>', 'who you are, as the control plane records it', `${os.userInfo().username}@${os.hostname()}`)
    .action(async (opts: { token: string; caHash?: string; name: string }, cmd: Command) => {
      const server = cmd.optsWithGlobals<{ server?: string }>().server;
      try {
        if (!server) throw new UserError('--server HOST:PORT is required to log in');
        if (!opts.caHash) process.stderr.write('warning: no --ca-hash given: trusting the CA the server presents\n');
        const joined = await joinCluster(server, opts.token, { kind: 'operator', name: opts.name }, opts.caHash);
        saveCredential([server], joined.material);
        console.log(`Logged in to ${server} as ${opts.name} (CA ${joined.caHash}). Try \`cluster --server ${server} apps\`.`);
      } catch (err) {
        fail(err, server);
      }
    });
}
