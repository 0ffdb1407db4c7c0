// The files under deploy/ are what operators copy: the example config must load as `tessera
// serve` would load it, and the systemd unit may only pass options `tessera serve` has.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { loadConfig } from '../../server/src/config/load.ts';
import { buildProgram } from '../src/main.ts';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const io = { env: {}, cwd: ROOT, stdout: { write: () => true }, stderr: { write: () => true } };

describe('deploy/', () => {
  it('tessera.json loads without a problem, on the address and issuer it says', () => {
    const config = loadConfig({ flags: { config: join(ROOT, 'deploy', 'tessera.json') }, env: {}, cwd: ROOT });
    assert.equal(config.listen.href, 'https://0.0.0.0:8443/');
    assert.equal(config.issuer, 'https://tessera.example.internal:8443');
    assert.deepEqual(config.warnings ?? [], []);
  });

  it('the systemd unit starts tessera serve with options it has, and reloads with SIGHUP', () => {
    const unit = readFileSync(join(ROOT, 'deploy', 'systemd', 'tessera.service'), 'utf8');
    const exec = /^ExecStart=(.+)$/m.exec(unit)?.[1];
    assert.ok(exec, 'ExecStart is set');
    const [binary, command, ...args] = exec.split(/\s+/);
    assert.match(binary!, /\/node_modules\/\.bin\/tessera$/);
    assert.equal(command, 'serve');
    const serve = buildProgram(io as never).commands.find((c) => c.name() === 'serve');
    const known = new Set(serve!.options.map((option) => option.long));
    const flags = args.filter((arg) => arg.startsWith('--'));
    assert.ok(flags.length > 0);
    for (const flag of flags) assert.ok(known.has(flag), `tessera serve has ${flag}`);
    assert.match(unit, /^ExecReload=\/bin\/kill -HUP \$MAINPID$/m);
    assert.match(unit, /^User=tessera$/m);
    assert.match(unit, /^RestartPreventExitStatus=2$/m, 'a configuration error (exit 2) is not restarted');
    assert.doesNotMatch(unit, /^MemoryDenyWriteExecute=yes/m, 'V8 needs writable executable memory');
  });

  it('the terminating nginx example replaces, never appends, the headers Tessera believes', () => {
    const conf = readFileSync(join(ROOT, 'deploy', 'nginx', 'terminate.conf'), 'utf8');
    assert.match(conf, /proxy_set_header X-Forwarded-For \$remote_addr;/);
    assert.match(conf, /proxy_set_header X-SSL-Client-Cert \$ssl_client_escaped_cert;/);
    assert.match(conf, /"proxyCertHeader": "x-ssl-client-cert"/);
    assert.match(conf, /ssl_verify_client optional_no_ca;/);
  });
});
