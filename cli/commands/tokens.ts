/** agents:token and operators:token: join tokens, printed with the exact command to run. */
import type { Command } from 'commander';
import { callUnary } from '../../lib/grpc-call';
import { printJson, withApi } from '../command-kit';
import { UserError } from '../errors';
import { checkAgentLabelCount, collectLabel, datacenterName } from '../parse';
import { MAX_TOKEN_TTL_S, MAX_TOKEN_USES } from '../../lib/limits';
import type { ClusterApiClient } from '../../proto/gen/cluster/api/ClusterApi';

/** "90s", "15m", "1h", "2d" → seconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+)(s|m|h|d)?$/.exec(text.trim());
  if (!m) throw new UserError(`--ttl ${text}: expected a duration like 30m, 1h or 2d`);
  return Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86_400 }[(m[2] ?? 's') as 's' | 'm' | 'h' | 'd'];
}

/** A token's --ttl: 0 would be taken as the default (1 h) by the control plane. */
function tokenTtl(text: string): number {
  const seconds = parseDuration(text);
  if (seconds < 1 || seconds > MAX_TOKEN_TTL_S) throw new UserError(`--ttl ${text}: a token may be valid from 1s to 7d`);
  return seconds;
}

/** --uses: a whole number from 1 to 1,000 (the wire would turn `abc` into 0, taken as 1). */
function tokenUses(text: string): number {
  const uses = /^\d+$/.test(text.trim()) ? Number(text) : NaN;
  if (!(uses >= 1 && uses <= MAX_TOKEN_USES)) throw new UserError(`--uses ${text}: give a whole number from 1 to ${MAX_TOKEN_USES}`);
  return uses;
}

/**
 * The --server list to print with a token: every replica as it advertises itself (what
 * another machine can dial), else the address this command used.
 */
async function replicaList(api: ClusterApiClient, server: string): Promise<string> {
  try {
    const reply = await callUnary(api, 'ListReplicas', {}, 3_000);
    const addresses = reply.replicas.map((r) => r.address).filter((a) => a);
    return addresses.length > 0 ? addresses.join(',') : server;
  } catch {
    return server; // an older control plane
  }
}

export function registerTokens(program: Command): void {
  program
    .command('agents:token')
    .description('a join token for a new server, printed with the command to run there')
    .option('--ttl <duration>', 'how long it is valid (30m, 1h, 2d; at most 7d)', '1h')
    .option('--uses <n>', 'how many servers may join with it', '1')
    .option('--label <k=v>', 'a label every agent joining with it gets (repeatable)', collectLabel)
    .option('--datacenter <dc>', 'the datacenter of agents joining with it', datacenterName)
    .option('--json', 'print JSON')
    .action(async (opts: { ttl: string; uses: string; label?: Record<string, string>; datacenter?: string; json?: boolean }, cmd: Command) =>
      withApi(cmd, async (api, server) => {
        const uses = tokenUses(opts.uses);
        checkAgentLabelCount(opts.label, '--label', 'an agent joining with this token');
        const reply = await callUnary(api, 'CreateToken', {
          kind: 'agent',
          ttl_seconds: tokenTtl(opts.ttl),
          uses,
          labels: opts.label ?? {},
          datacenter: opts.datacenter ?? '',
        });
        const command = `cluster agent join --server ${await replicaList(api, server)} --token ${reply.token} --ca-hash ${reply.ca_hash}`;
        if (opts.json) return printJson({ token: reply.token, caHash: reply.ca_hash, expiresAt: new Date(reply.expires_at_ms).toISOString(), command });
        console.log(`Join token (valid until ${new Date(reply.expires_at_ms).toISOString()}, ${uses} use${uses === 1 ? '' : 's'}). On the new server run:\n\n  ${command}\n`);
        console.log('(`cluster agent install` with the same flags also sets it up as a system service.)');
      }),
    );

  program
    .command('operators:token')
    .description('a token for `cluster login` on another machine')
    .option('--ttl <duration>', 'how long it is valid (30m, 1h, 2d; at most 7d)', '1h')
    .option('--json', 'print JSON')
    .action(async (opts: { ttl: string; json?: boolean }, cmd: Command) =>
      withApi(cmd, async (api, server) => {
        const reply = await callUnary(api, 'CreateToken', { kind: 'operator', ttl_seconds: tokenTtl(opts.ttl), uses: 1 });
        const command = `cluster login --server ${await replicaList(api, server)} --token ${reply.token} --ca-hash ${reply.ca_hash}`;
        if (opts.json) return printJson({ token: reply.token, caHash: reply.ca_hash, expiresAt: new Date(reply.expires_at_ms).toISOString(), command });
        console.log(`Login token (valid until ${new Date(reply.expires_at_ms).toISOString()}, once). On the other machine run:\n\n  ${command}\n`);
      }),
    );
}
