// Where the client commands get their server, CA bundle and credential file when the command
// line does not say: TESSERA_SERVER / TESSERA_CACERT / TESSERA_CREDENTIALS, then the profile
// ($XDG_CONFIG_HOME/tessera/cli.json), flags first; and the help marks required options and
// shows examples for every command.

import assert from 'node:assert/strict';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import type { Command } from 'commander';

import { buildProgram } from '../src/main.ts';
import { EXAMPLES, commandPath } from '../src/help-examples.ts';
import { makeWorkspace, runCli } from './helpers/cli.ts';
import { startFakeTessera, type FakeTessera } from './helpers/fake-tessera.ts';

const ID = 'sys.auth.admin';
const SECRET = 'secret-1';

describe('client defaults from the environment and the profile', () => {
  const cleanup: (() => Promise<void>)[] = [];
  after(async () => {
    for (const step of cleanup.reverse()) await step();
  });
  async function fake(): Promise<FakeTessera> {
    const server = await startFakeTessera({ clientId: ID, clientSecret: SECRET });
    cleanup.push(() => server.close());
    return server;
  }
  /** A workspace with a credential file that names no server, and a profile dir. */
  async function workspace(): Promise<{ cwd: string; credentials: string; config: string }> {
    const cwd = await makeWorkspace();
    cleanup.push(() => rm(cwd, { recursive: true, force: true }));
    const credentials = path.join(cwd, 'admin.json');
    await writeFile(credentials, JSON.stringify({ clientId: ID, clientSecret: SECRET }));
    const config = path.join(cwd, 'xdg');
    await mkdir(path.join(config, 'tessera'), { recursive: true });
    return { cwd, credentials, config };
  }

  it('takes the server from TESSERA_SERVER, and --server over it', async () => {
    const [a, b] = [await fake(), await fake()];
    const { cwd, credentials } = await workspace();
    const env = { TESSERA_SERVER: a.url };
    assert.equal((await runCli(['admin', 'domain', 'list', '--credentials', credentials], { cwd, env })).code, 0);
    assert.equal(a.requests.length, 2);
    const flagged = await runCli(['admin', 'domain', 'list', '--credentials', credentials, '--server', b.url], { cwd, env });
    assert.equal(flagged.code, 0, flagged.stderr);
    assert.equal(a.requests.length, 2, 'nothing more went to the server of the variable');
    assert.equal(b.requests.length, 2);
  });

  it('takes server and credential file from the profile (paths relative to it), the environment over the profile', async () => {
    const [a, b] = [await fake(), await fake()];
    const { cwd, config } = await workspace();
    await writeFile(path.join(config, 'tessera', 'cli.json'), JSON.stringify({ server: a.url, credentials: '../../admin.json' }));
    const elsewhere = path.join(cwd, 'xdg');
    const viaProfile = await runCli(['admin', 'domain', 'list'], { cwd: elsewhere, env: { XDG_CONFIG_HOME: config } });
    assert.equal(viaProfile.code, 0, viaProfile.stderr);
    assert.equal(a.requests[0]?.path, '/oauth2/token');
    const viaEnv = await runCli(['admin', 'domain', 'list'], { cwd: elsewhere, env: { XDG_CONFIG_HOME: config, TESSERA_SERVER: b.url } });
    assert.equal(viaEnv.code, 0, viaEnv.stderr);
    assert.equal(a.requests.length, 2);
    assert.equal(b.requests.length, 2);
  });

  it('reads ~/.config/tessera/cli.json without XDG_CONFIG_HOME', async () => {
    const a = await fake();
    const { cwd } = await workspace();
    await mkdir(path.join(cwd, 'home', '.config', 'tessera'), { recursive: true });
    await writeFile(path.join(cwd, 'home', '.config', 'tessera', 'cli.json'), JSON.stringify({ server: a.url, credentials: path.join(cwd, 'admin.json') }));
    const result = await runCli(['admin', 'domain', 'list'], { cwd, env: { HOME: path.join(cwd, 'home') } });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(a.requests.length, 2);
  });

  it('leaves tessera token alone when it is given another credential form', async () => {
    const a = await fake();
    const { cwd, credentials } = await workspace();
    await writeFile(path.join(cwd, 'secret'), SECRET);
    const result = await runCli(['token', '--client-id', ID, '--client-secret-file', 'secret', '--scope', 'x:domain', '--server', a.url], {
      cwd,
      env: { TESSERA_CREDENTIALS: credentials },
    });
    assert.doesNotMatch(result.stderr, /two client credentials/);
  });

  it('refuses a profile with an unknown key, a profile that is no JSON, and a server that is no URL, naming where', async () => {
    const { cwd, config } = await workspace();
    const file = path.join(config, 'tessera', 'cli.json');
    await writeFile(file, JSON.stringify({ sever: 'https://x' }));
    let result = await runCli(['admin', 'domain', 'list'], { cwd, env: { XDG_CONFIG_HOME: config } });
    assert.equal(result.code, 2);
    assert.equal(result.stderr, `error: CLI profile ${file}: unknown key "sever"; it may hold server, cacert, credentials\n`);
    await writeFile(file, '{');
    result = await runCli(['admin', 'domain', 'list'], { cwd, env: { XDG_CONFIG_HOME: config } });
    assert.equal(result.stderr, `error: CLI profile ${file} is not JSON: fix it or remove it\n`);
    result = await runCli(['verify', 'x.y.z'], { cwd, env: { TESSERA_SERVER: 'tessera:8443' } });
    assert.equal(result.code, 2);
    assert.equal(result.stderr, 'error: TESSERA_SERVER: expected an http:// or https:// URL, got "tessera:8443"\n');
  });
});

describe('help', () => {
  const program = buildProgram({ stdout: { write: () => undefined }, stderr: { write: () => undefined }, env: {}, cwd: '/' });
  const all: Command[] = [];
  const walk = (command: Command): void => {
    for (const sub of command.commands) {
      all.push(sub);
      walk(sub);
    }
  };
  walk(program);

  it('gives examples for every command, and none for a command that does not exist', () => {
    const paths = all.map(commandPath);
    assert.deepEqual(
      paths.filter((name) => EXAMPLES[name] === undefined),
      [],
    );
    assert.deepEqual(
      Object.keys(EXAMPLES).filter((name) => !paths.includes(name)),
      [],
    );
  });

  it('marks the required options and shows the examples', async () => {
    const cwd = '/';
    const token = await runCli(['token', '--help'], { cwd });
    assert.match(token.stdout, /--scope <scope> +\(required\) what to ask for/);
    assert.match(token.stdout, /\nExamples:\n {2}\$ tessera token --client-id alpha\.api/);
    assert.doesNotMatch(token.stdout, /--client-id <id> +\(required\)/);
    const apiKey = await runCli(['admin', 'api-key', 'create', '--help'], { cwd });
    assert.match(apiKey.stdout, /--audience <domain> +\(required\)/);
  });
});
