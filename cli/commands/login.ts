/** cluster login: trade an operator token for a credential for a remote control plane. */
import * as os from 'node:os';
import type { Command } from 'commander';
import { saveCredential } from '../../lib/credentials';
import { joinAny } from '../../lib/join';
import { callUnary } from '../../lib/grpc-call';
import { mergeServers, parseServerList } from '../../lib/server-list';
import { connect } from '../client';
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
        if (!server) throw new UserError('--server HOST:PORT[,HOST:PORT…] is required to log in');
        const servers = parseServerList(server);
        checkCaPin(opts.caHash);
        if (!opts.caHash) process.stderr.write('warning: no --ca-hash given: trusting the CA the server presents\n');
        const joined = await joinAny(servers, opts.token, { kind: 'operator', name: opts.name }, opts.caHash).catch(async (err: unknown) => {
          throw (await withoutTls(servers)) ?? err;
        });
        // The credential serves every replica of the cluster: store it for all that are known.
        let all = servers;
        const api = connect(joined.server, joined.material);
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

/**
 * When no TLS handshake worked, a control plane that answers plain gRPC runs without TLS (a dev
 * cluster, `--insecure`): logging in is not needed, and "cannot reach" would send the user astray.
 */
async function withoutTls(servers: readonly string[]): Promise<UserError | undefined> {
  for (const server of servers) {
    // Plain gRPC whatever credential is stored: with one, this probe would speak TLS and succeed.
    const api = connect(server, undefined, { plaintext: true });
    try {
      await callUnary(api, 'ListReplicas', {}, 2_000);
      return new UserError(`the control plane at ${server} runs without TLS: no login is needed (try \`cluster --server ${server} apps\`)`);
    } catch {
      // Not a plain-gRPC control plane either: the join's own error says what went wrong.
    } finally {
      api.close();
    }
  }
  return undefined;
}
