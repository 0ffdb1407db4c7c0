// The listener's certificate settings: `tls.names`, `tls.certFile` and `tls.keyFile`, and the
// refusal to guess an issuer for a listener on every interface.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULTS } from '../../src/config/config.ts';
import { configFile, load, problemOf } from './helpers.ts';

void describe('tls settings', () => {
  void it('default to no extra names and the self-issued certificate', () => {
    assert.deepEqual(load().tls, { names: [], files: null });
    assert.deepEqual(DEFAULTS.tls.names, []);
  });

  void it('read extra names from the flag (repeated, joined by the CLI), the environment and the config file', () => {
    assert.deepEqual(load({ flags: { tlsName: 'auth.example.internal,10.1.2.3' } }).tls.names, ['auth.example.internal', '10.1.2.3']);
    assert.deepEqual(load({ env: { TESSERA_TLS_NAMES: ' a.example , 2001:db8::1 ' } }).tls.names, ['a.example', '2001:db8::1']);
    const file = configFile({ tls: { names: ['Tessera.Example.NET', '[::1]'] } });
    assert.deepEqual(load({ flags: { config: file } }).tls.names, ['tessera.example.net', '::1']);
  });

  void it('refuse a name that is neither a DNS name nor an IP address, naming it', () => {
    assert.match(
      problemOf({ flags: { tlsName: 'good.example,bad_name.example' } }),
      /^--tls-name: "bad_name.example" is neither a DNS name \(letters, digits and hyphens in dot-separated labels\) nor an IP address/,
    );
    assert.match(problemOf({ env: { TESSERA_TLS_NAMES: 'https://a.example' } }), /^TESSERA_TLS_NAMES: "https:\/\/a.example" is neither/);
    assert.match(problemOf({ flags: { config: configFile({ tls: { names: true } }) } }), /tls.names: expected a list of DNS names or IP addresses/);
    assert.match(problemOf({ flags: { config: configFile({ tls: { names: [42] } }) } }), /tls.names: expected a list of DNS names or IP addresses/);
  });

  void it('refuse wildcard names with the reason', () => {
    assert.match(problemOf({ flags: { tlsName: '*.example.internal' } }), /^--tls-name: "\*.example.internal" is a wildcard: .*list each name/);
  });

  void it('take the operator’s certificate and key together, as absolute paths', () => {
    const config = load({ flags: { tlsCert: 'tls/server.pem', tlsKey: 'tls/server.key' } });
    assert.deepEqual(config.tls.files, { certFile: '/srv/app/tls/server.pem', keyFile: '/srv/app/tls/server.key' });
    const env = load({ env: { TESSERA_TLS_CERT: '/etc/tls/c.pem', TESSERA_TLS_KEY: '/etc/tls/k.pem' } });
    assert.deepEqual(env.tls.files, { certFile: '/etc/tls/c.pem', keyFile: '/etc/tls/k.pem' });
    const file = configFile({ tls: { certFile: 'c.pem', keyFile: 'k.pem' } });
    const fromFile = load({ flags: { config: file } });
    assert.equal(fromFile.tls.files?.certFile, file.replace('tessera.json', 'c.pem'));
  });

  void it('refuse a certificate without its key, and a key without its certificate', () => {
    assert.match(
      problemOf({ flags: { tlsCert: 'c.pem' } }),
      /^tls.certFile \(--tls-cert\) is set but tls.keyFile \(--tls-key, TESSERA_TLS_KEY\) is not: .*set both, or neither/,
    );
    assert.match(
      problemOf({ env: { TESSERA_TLS_KEY: 'k.pem' } }),
      /^tls.keyFile \(TESSERA_TLS_KEY\) is set but tls.certFile \(--tls-cert, TESSERA_TLS_CERT\) is not/,
    );
  });

  void it('refuse extra names beside the operator’s certificate, which has its own', () => {
    assert.match(
      problemOf({ flags: { tlsName: 'a.example', tlsCert: 'c.pem', tlsKey: 'k.pem' } }),
      /^--tls-name: names are added to the self-issued certificate only, and tls.certFile \(--tls-cert\) is set: .*put the names in your certificate/,
    );
  });

  void it('refuse certificate settings on a plain-HTTP listener', () => {
    const names = problemOf({ flags: { listen: 'http://127.0.0.1:8080', tlsName: 'a.example' } });
    assert.match(names, /^--tls-name: only an https:\/\/ listener has a certificate/);
    const files = problemOf({ flags: { listen: 'http://127.0.0.1:8080', tlsCert: 'c', tlsKey: 'k' } });
    assert.match(files, /^--tls-cert: only an https:\/\/ listener has a certificate/);
  });

  void it('suggest the right key for a misspelt one in the config file', () => {
    assert.match(
      problemOf({ flags: { config: configFile({ tls: { certfile: 'c.pem' } }) } }),
      /unknown setting "tls.certfile" \(did you mean "tls.certFile"\?\)/,
    );
  });
});

void describe('a listener on every interface', () => {
  void it('refuses to start without an issuer, saying what to pass', () => {
    for (const listen of ['https://0.0.0.0:8445', 'http://[::]:8080']) {
      const port = new URL(listen).port;
      const problem = problemOf({ flags: { listen } });
      assert.match(problem, /^--listen: /);
      assert.ok(problem.includes(`pass --issuer ${listen.slice(0, listen.indexOf(':'))}://<the name clients use>:${port}`), problem);
    }
    assert.match(problemOf({ env: { TESSERA_LISTEN: 'https://0.0.0.0:8445' } }), /^TESSERA_LISTEN: .*every interface/);
  });

  void it('starts with an explicit issuer', () => {
    assert.equal(
      load({ flags: { listen: 'https://0.0.0.0:8446', issuer: 'https://auth.example.internal:8446' } }).issuer,
      'https://auth.example.internal:8446',
    );
  });
});
