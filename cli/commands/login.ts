/** cluster login: trade an operator token for a credential for a remote control plane. */
import * as os from 'node:os';
import type { Command } from 'commander';
import { saveCredential } from '../../lib/credentials';
import { joinAny } from '../../lib/join';
import { callUnary } from '../../lib/grpc-call';
import { mergeServers, parseServerList } from '../../lib/server-list';
import { answersWithoutTls, connect } from '../client';
import { fail } from '../command-kit';
import { UserError } from '../errors';
import { checkCaPin } from '../parse';

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
        if (server === undefined) throw new UserError('--server HOST:PORT[,HOST:PORT…] is required to log in');
        const servers = parseServerList(server);
        checkCaPin(opts.caHash);
        if (!opts.caHash) process.stderr.write('warning: no --ca-hash given: trusting the CA the server presents\n');
        const joined = await joinAny(servers, opts.token, { kind: 'operator', name: opts.name }, opts.caHash).catch(async (err: unknown) => {
          // No TLS handshake worked: a control plane that answers plain gRPC needs no login.
          const plain = await answersWithoutTls(servers);
          throw plain ? new UserError(`the control plane at ${plain} runs without TLS: no login is needed (try \`cluster --server ${plain} apps\`)`) : err;
        });
        // The credential serves every replica of the cluster: store it for all that are known.
        let all = servers;
        // The new credential, not one stored before for that address (of a cluster since re-created).
        const api = connect(joined.server, undefined, { credential: joined.material });
        try {
          const reply = await callUnary(api, 'ListReplicas', {}, 3_000);
          all = mergeServers(servers, reply.replicas.map((r) => r.address).filter((a) => a));
        } catch {
          // An older control plane: the given addresses are all we know.
        } finally {
          api.close();
        }
        saveCredential(all, joined.material);
        const list = all.join(',');
        console.log(`Logged in to ${list} as ${opts.name} (CA ${joined.caHash}). Try \`cluster --server ${list} apps\`.`);
      } catch (err) {
        fail(err, server);
      }
    });
}
