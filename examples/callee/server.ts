// The callee: `beta.store`, a node:https service that answers only callers holding
// `beta:role.readers`. It gets its own TLS certificate from Tessera's CA with the certificate
// refresher (bootstrapped with a join token) and keeps it renewed in place, asks every caller
// for a client certificate, and lets the SDK middleware verify the access token: signature,
// issuer, audience `beta`, the required role and, for a certificate-bound token, that the
// token's `cnf` names the very certificate the caller presented on this connection.
//
//   JOIN_TOKEN=tsj_… node --conditions=tessera-source examples/callee/server.ts
//
// Environment: TESSERA (https://127.0.0.1:8443), TESSERA_CA (.tessera/ca.pem), PRINCIPAL
// (beta.store), JOIN_TOKEN (required), CERT_DIR (where to keep key and certificate; none by
// default; a restart finds a valid certificate there and does not spend the token again), HOST
// (127.0.0.1), PORT (9443; 0 picks a free one).

import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { createCertificateRefresher, createVerifier, nodeAuth } from '@tessera/sdk';

const tessera = process.env['TESSERA'] ?? 'https://127.0.0.1:8443';
const ca = readFileSync(process.env['TESSERA_CA'] ?? '.tessera/ca.pem', 'utf8');
const principal = process.env['PRINCIPAL'] ?? 'beta.store';
const host = process.env['HOST'] ?? '127.0.0.1';
const port = Number(process.env['PORT'] ?? 9443);
const joinToken = process.env['JOIN_TOKEN'];
if (!joinToken) {
  console.error(`set JOIN_TOKEN to a join token for ${principal}: npx tessera admin join-token create ${principal}`);
  process.exit(2);
}

const refresher = await createCertificateRefresher({
  server: tessera,
  ca,
  principal,
  bootstrap: { joinToken },
  outDir: process.env['CERT_DIR'] || undefined,
});
refresher.on('renewed', ({ certificate }) =>
  console.error(`certificate renewed: serial ${certificate.serial}, valid until ${certificate.notAfter.toISOString()}`),
);
refresher.on('failed', ({ error, retryAt }) =>
  console.error(`certificate renewal failed: ${error.message}; ${retryAt ? `next try ${retryAt.toISOString()}` : 'giving up'}`),
);
refresher.on('expiring', ({ remainingMs }) => console.error(`certificate expires in ${Math.round(remainingMs / 1000)} s and cannot be renewed`));

// The token's audience is the domain whose roles it carries: this service belongs to `beta`.
const verifier = createVerifier({ issuer: tessera, audience: 'beta', ca });
const protect = nodeAuth(verifier);

const hello = protect(
  (_req, res, caller) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(
      JSON.stringify({
        message: `hello, ${caller.principal}`,
        caller: caller.principal,
        roles: caller.roles['beta'] ?? [],
        certificateBound: caller.certificateThumbprint !== null,
      }),
    );
  },
  { scope: ['beta:role.readers'] },
);

// Every caller is asked for a certificate, but one from any CA (or none) gets through the
// handshake: callers with a secret or a private key have none, and a certificate-bound token is
// checked by thumbprint, which holds whoever issued the certificate. The handshake still proves
// the caller holds the certificate's private key.
const server = createServer({ ...refresher.tlsOptions(), requestCert: true, rejectUnauthorized: false }, hello);
refresher.attach(server);

server.listen(port, host, () => {
  const address = server.address();
  const bound = typeof address === 'object' && address !== null ? address.port : port;
  console.log(`${principal} listening on https://${host}:${bound} as ${refresher.info().spiffeId ?? principal}`);
});

const stop = (): void => {
  server.close();
  server.closeAllConnections();
  void refresher.close();
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
