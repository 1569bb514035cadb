#!/usr/bin/env node
/**
 * Bench-only: the `cluster` CLI with only the agent commands registered, i.e. what
 * `cluster agent start` would load if cli/main.ts imported each command module lazily. The
 * footprint benchmark runs an agent through it to show what that saves; the product never
 * uses this file.
 */
import { registerAgent } from '../../cli/commands/agent';
import { fail } from '../../cli/command-kit';

// commander as the product resolves it (bench/node_modules holds another copy, PM2's).
type ProductCommand = Parameters<typeof registerAgent>[0];
const { Command } = require('commander') as { Command: new (name: string) => ProductCommand };

const program = new Command('cluster').option('--server <host:port>', 'control plane address');
registerAgent(program);
program.parseAsync(process.argv).catch((err: unknown) => fail(err));
