/** The CLI's command index (cli/command-index.ts): true to what each file registers, and the dispatch. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Command } from 'commander';
import { cacheName, COMMAND_MODULES, commandWord, modulesFor, runsDaemon } from '../../cli/command-index';

function registered(register: (p: Command) => void): string[] {
  const program = new Command('cluster');
  register(program);
  return program.commands.flatMap((c) => [c.name(), ...c.aliases()]);
}

describe('command index', () => {
  it('names exactly the commands each module registers', async () => {
    for (const m of COMMAND_MODULES) assert.deepEqual([...m.names].sort(), registered(await m.load()).sort(), m.names.join(' '));
  });

  it('gives every command name once', () => {
    const all = COMMAND_MODULES.flatMap((m) => m.names);
    assert.equal(new Set(all).size, all.length);
  });

  it('finds the command word past global options', () => {
    assert.equal(commandWord(['ps', '-a', 'x']), 'ps');
    assert.equal(commandWord(['--server', '10.0.0.1:7600', 'scale', 'web=2']), 'scale');
    assert.equal(commandWord(['--server=10.0.0.1:7600', 'logs']), 'logs');
    assert.equal(commandWord(['--help']), undefined);
    assert.equal(commandWord([]), undefined);
  });

  it('loads one module for a known command, all of them for help, completion and typos', () => {
    assert.deepEqual(modulesFor(['ps']).flatMap((m) => m.names), ['ps']);
    assert.deepEqual(modulesFor(['config:set', 'A=1']).flatMap((m) => m.names), ['config', 'config:get', 'config:set', 'config:unset']);
    assert.deepEqual(modulesFor(['scale', '--help']).flatMap((m) => m.names), ['ps:scale', 'scale']);
    for (const args of [[], ['--help'], ['help', 'ps'], ['completion', 'bash'], ['psx']]) assert.equal(modulesFor(args), COMMAND_MODULES, args.join(' '));
    assert.deepEqual(modulesFor(['--version']), []);
  });

  it('tells the daemons (run unbundled) from the commands', () => {
    for (const args of [['agent', 'start'], ['--server', 'h:1', 'control-plane', 'start'], ['dev', '--agents', '2']]) assert.equal(runsDaemon(args), true, args.join(' '));
    for (const args of [['ps', '-a', 'x'], [], ['--version'], ['logs', '-a', 'agent']]) assert.equal(runsDaemon(args), false, args.join(' '));
  });

  it('names one code cache per command, its help apart', () => {
    assert.equal(cacheName(['ps', '-a', 'x']), 'ps');
    assert.equal(cacheName(['--server', 'h:1', 'scale', 'web=2']), 'scale');
    assert.equal(cacheName(['scale', '--help']), 'scale-help');
    assert.equal(cacheName(['--version']), 'version');
    for (const args of [[], ['--help'], ['completion', 'bash'], ['psx', '../../etc']]) assert.equal(cacheName(args), 'all', args.join(' '));
  });
});
