// Tessera's own host names (the issuer's host, the listen host, tls.names) against the zone its CA
// names services in (ca.dnsSuffix): a name in both would let a domain admin get a certificate for
// Tessera's own host. And the spellings of host names and addresses that are refused.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hostname } from 'node:os';
import { caSettings } from '../../src/ca/settings.ts';
import { listensOnEveryInterface, serverCertificateNames } from '../../src/config/own-names.ts';
import { load, problemOf, problemsOf } from './helpers.ts';

void describe('Tessera’s own names and ca.dnsSuffix', () => {
  void it('refuses an issuer host inside ca.dnsSuffix, naming both settings and the fix', () => {
    const problem = problemOf({ flags: { issuer: 'https://tessera.platform.example.internal:8443' }, env: { TESSERA_CA_DNS_SUFFIX: 'example.internal' } });
    assert.match(
      problem,
      /^--issuer: the issuer host tessera\.platform\.example\.internal is inside ca\.dnsSuffix \(TESSERA_CA_DNS_SUFFIX\) example\.internal/,
    );
    assert.match(problem, /a service \(here platform\.tessera\) could get a certificate for Tessera.s own host/);
    assert.match(problem, /Set ca\.dnsSuffix to a zone of its own/);
  });

  void it('refuses an issuer host equal to ca.dnsSuffix, in any letter case', () => {
    assert.match(
      problemOf({ flags: { issuer: 'https://Svc.Example.Internal' }, env: { TESSERA_CA_DNS_SUFFIX: 'svc.example.internal' } }),
      /the issuer host svc\.example\.internal is inside ca\.dnsSuffix/,
    );
  });

  void it('refuses a listen host inside ca.dnsSuffix (the issuer defaults to it)', () => {
    const problem = problemOf({ flags: { listen: 'https://auth.ops.svc.tessera.local:8443' } });
    assert.match(problem, /^--listen: the listen host auth\.ops\.svc\.tessera\.local is inside ca\.dnsSuffix svc\.tessera\.local \(the default\)/);
    assert.match(
      problemOf({ flags: { listen: 'https://auth.ops.svc.tessera.local:8443', issuer: 'https://auth.example.internal' } }),
      /^--listen: the listen host/,
    );
  });

  void it('refuses a tls.names entry inside ca.dnsSuffix, naming it', () => {
    const problem = problemOf({
      flags: { tlsName: 'ok.example.internal,api.prod.svc.example.internal' },
      env: { TESSERA_CA_DNS_SUFFIX: 'svc.example.internal' },
    });
    assert.match(problem, /^--tls-name: the name api\.prod\.svc\.example\.internal is inside ca\.dnsSuffix \(TESSERA_CA_DNS_SUFFIX\) svc\.example\.internal/);
  });

  void it('accepts names outside the zone, also ones that merely end in the same letters, and addresses', () => {
    const config = load({
      flags: { issuer: 'https://tessera.example.internal', tlsName: 'notexample.internal,10.0.0.5' },
      env: { TESSERA_CA_DNS_SUFFIX: 'svc.example.internal' },
    });
    assert.equal(config.issuer, 'https://tessera.example.internal');
    assert.equal(load({ flags: { tlsName: 'tessera.notsvc.tessera.local' } }).tls.names[0], 'tessera.notsvc.tessera.local');
    assert.equal(load({ flags: { issuer: 'https://10.1.2.3:8443' }, env: { TESSERA_CA_DNS_SUFFIX: '3' } }).issuer, 'https://10.1.2.3:8443');
  });
});

void describe('own names written with a trailing dot', () => {
  void it('refuses an issuer, listen host or tls.names entry ending with a dot, outside the zone too, with the spelling to use', () => {
    assert.match(
      problemOf({ flags: { issuer: 'https://auth.example.internal.:8443' } }),
      /^--issuer: the issuer host auth\.example\.internal\. ends with a dot \(an absolute DNS name\): write it without the trailing dot \(auth\.example\.internal\)/,
    );
    assert.match(
      problemOf({ flags: { listen: 'https://auth.example.internal.:8443' } }),
      /^--listen: the listen host auth\.example\.internal\. ends with a dot/,
    );
    assert.match(problemOf({ flags: { tlsName: 'alt.example.internal.' } }), /^--tls-name: "alt\.example\.internal\." is neither a DNS name/);
  });

  void it('also names the zone when the dotted name is inside ca.dnsSuffix', () => {
    const problem = problemsOf({ flags: { issuer: 'https://api.alpha.svc.tessera.local.:8443' } }).join('\n');
    assert.match(problem, /ends with a dot/);
    assert.match(problem, /the issuer host api\.alpha\.svc\.tessera\.local is inside ca\.dnsSuffix svc\.tessera\.local/);
  });

  void it('are reserved without the dot, the spelling certificates carry', () => {
    const names = serverCertificateNames(new URL('https://Auth.Example.Internal.:1'), 'https://tessera.example.internal.', ['alt.example.internal.']);
    assert.deepEqual([...names.dnsNames].sort(), ['alt.example.internal', 'auth.example.internal', 'localhost', 'tessera.example.internal']);
  });
});

void describe('the names the CA keeps from services', () => {
  void it('are the server certificate’s DNS names: issuer host, listen host and tls.names', () => {
    const config = load({
      flags: { listen: 'https://auth.example.internal:8443', issuer: 'https://Tessera.Example.Internal', tlsName: 'alt.example.internal,10.0.0.5' },
    });
    assert.deepEqual([...(caSettings(config).reservedDnsNames ?? [])].sort(), [
      'alt.example.internal',
      'auth.example.internal',
      'localhost',
      'tessera.example.internal',
    ]);
  });
});

void describe('every interface', () => {
  void it('puts this machine’s host name in the server certificate, for every spelling', () => {
    for (const listen of ['https://0.0.0.0:1', 'https://[::]:1', 'https://[::ffff:0.0.0.0]:1']) {
      const names = serverCertificateNames(new URL(listen), 'https://auth.example.internal', []);
      const own = hostname();
      assert.ok(names.dnsNames.includes(own.toLowerCase()) || names.ipAddresses.includes(own), listen);
      assert.ok(!names.ipAddresses.includes('::ffff:0:0') && !names.ipAddresses.includes('0.0.0.0'), listen);
    }
  });

  void it('is decided from the parsed address, whatever its spelling', () => {
    for (const host of ['0.0.0.0', '0', '[::]', '[::0]', '[0:0:0:0:0:0:0:0]', '[::ffff:0.0.0.0]', '[::ffff:0:0]']) {
      assert.equal(listensOnEveryInterface(new URL(`https://${host}:1`).hostname), true, host);
    }
    for (const host of ['127.0.0.1', '[::1]', '[::ffff:127.0.0.1]', '[::ffff:0:1]', '[::ffff:1:0]', 'localhost', 'example.internal', '[1::]']) {
      assert.equal(listensOnEveryInterface(new URL(`https://${host}:1`).hostname), false, host);
    }
    assert.equal(listensOnEveryInterface('::ffff:0.0.0.0'), true, 'bare, unparsed');
  });
});

void describe('tls.names spellings', () => {
  void it('refuses an IPv6 address with a zone id, saying why', () => {
    assert.match(
      problemOf({ env: { TESSERA_TLS_NAMES: 'fe80::1%eth0' } }),
      /^TESSERA_TLS_NAMES: "fe80::1%eth0" has a zone id \(%eth0\).*write the address without it/,
    );
    assert.match(problemOf({ flags: { tlsName: '[fe80::1%25eth0]' } }), /^--tls-name: "\[fe80::1%25eth0\]" has a zone id/);
  });

  void it('refuses IPv4 addresses in short or hex forms, with the dotted form', () => {
    assert.match(
      problemOf({ flags: { tlsName: '127.1' } }),
      /^--tls-name: "127\.1" is the IPv4 address 127\.0\.0\.1 in a short or hex form.*write 127\.0\.0\.1/,
    );
    assert.match(problemOf({ flags: { tlsName: '0x7f.0.0.1' } }), /"0x7f\.0\.0\.1" is the IPv4 address 127\.0\.0\.1/);
    assert.match(problemOf({ flags: { tlsName: '10' } }), /"10" is the IPv4 address 0\.0\.0\.10/);
  });

  void it('refuses names whose last label is a number, which clients read as an address', () => {
    assert.match(problemOf({ flags: { tlsName: '1.2.3.4.5' } }), /^--tls-name: "1\.2\.3\.4\.5" ends in an all-numeric label/);
    assert.match(problemOf({ flags: { tlsName: 'host.0x10' } }), /"host\.0x10" (ends in an all-numeric label|is the IPv4 address)/);
    assert.match(problemOf({ flags: { tlsName: 'a.999' } }), /"a\.999" ends in an all-numeric label/);
  });

  void it('accepts numeric labels before the last one', () => {
    assert.deepEqual(load({ flags: { tlsName: '123.example.com,0x7f.example' } }).tls.names, ['123.example.com', '0x7f.example']);
  });
});
