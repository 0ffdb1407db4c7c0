// A stand-in for Tessera's CA over HTTPS: a real root and intermediate made with
// @peculiar/x509, `GET /ca/v1/bundle`, and `POST /ca/v1/certificates` that signs the CSR it is
// sent (or answers as a test scripts it). It asks for, but does not require, a client
// certificate and records whether the one presented chains to its root, so renewal over mTLS
// can be checked.

import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createHash, webcrypto } from 'node:crypto';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';

const P256 = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

export interface CaRequest {
  method: string;
  path: string;
  body: unknown;
  /** The client certificate on the connection, if any. */
  client?: { cn: string | undefined; fingerprint256: string; authorized: boolean };
}

export interface CaAnswer {
  status: number;
  body?: unknown;
  text?: string;
}

export interface FakeCa {
  url: string;
  /** The root: trust this for the server's TLS certificate and for what it issues. */
  root: string;
  intermediate: string;
  requests: CaRequest[];
  /** Requests to POST /ca/v1/certificates only. */
  certificateRequests(): CaRequest[];
  /** Lifetime of the next certificates (seconds). */
  lifetimeSeconds: number;
  /** The CA's clock for notAfter and (unless later than the real time) notBefore. */
  clock: () => number;
  /** What GET /ca/v1/bundle answers; defaults to the root. */
  bundle: string;
  /** Scripted answers for the next certificate requests, used up in order. */
  scripted: (CaAnswer | ((req: CaRequest) => CaAnswer | Promise<CaAnswer>))[];
  /** What this CA answers for a request body `{csr, …}`, without a request. */
  sign(body: unknown): Promise<CaAnswer>;
  close(): Promise<void>;
}

export async function startFakeCa(): Promise<FakeCa> {
  const rootKeys = await generate();
  const now = Date.now();
  const rootCert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: '01',
      name: 'CN=Fake Tessera Root',
      notBefore: new Date(now - 86_400_000 * 365 * 20),
      notAfter: new Date(now + 86_400_000 * 365 * 20),
      keys: rootKeys,
      signingAlgorithm: P256,
      extensions: [
        new x509.BasicConstraintsExtension(true, 1, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      ],
    },
    webcrypto,
  );
  const intermediateKeys = await generate();
  const intermediateCert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: '02',
      subject: 'CN=Fake Tessera Intermediate',
      issuer: rootCert.subject,
      notBefore: rootCert.notBefore,
      notAfter: rootCert.notAfter,
      publicKey: intermediateKeys.publicKey,
      signingKey: rootKeys.privateKey,
      signingAlgorithm: P256,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      ],
    },
    webcrypto,
  );
  const issue = async (
    publicKey: x509.PublicKey | webcrypto.CryptoKey,
    cn: string,
    names: x509.JsonGeneralNames,
    notBefore: number,
    notAfter: number,
  ): Promise<string> => {
    const certificate = await x509.X509CertificateGenerator.create(
      {
        serialNumber: Buffer.from(webcrypto.getRandomValues(new Uint8Array(16)).map((byte, i) => (i === 0 ? (byte & 0x3f) | 0x40 : byte))).toString('hex'),
        subject: [{ CN: [cn] }],
        issuer: intermediateCert.subject,
        notBefore: new Date(notBefore),
        notAfter: new Date(notAfter),
        publicKey,
        signingKey: intermediateKeys.privateKey,
        signingAlgorithm: P256,
        extensions: [
          new x509.BasicConstraintsExtension(false, undefined, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
          new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
          new x509.SubjectAlternativeNameExtension(names),
        ],
      },
      webcrypto,
    );
    return certificate.toString('pem');
  };

  const serverKeys = await generate();
  const serverCert = await issue(serverKeys.publicKey, '127.0.0.1', [{ type: 'ip', value: '127.0.0.1' }], now - 60_000, now + 86_400_000);
  const serverKey = x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', serverKeys.privateKey), 'PRIVATE KEY');
  const root = rootCert.toString('pem');
  const intermediate = intermediateCert.toString('pem');

  const fake: FakeCa = {
    url: '',
    root,
    intermediate,
    requests: [],
    certificateRequests: () => fake.requests.filter((req) => req.path === '/ca/v1/certificates'),
    lifetimeSeconds: 3600,
    clock: Date.now,
    bundle: root,
    scripted: [],
    sign: (body) => signCsr(body),
    close: () => Promise.resolve(),
  };

  const signCsr = async (body: unknown): Promise<CaAnswer> => {
    const csrPem = (body as { csr?: unknown } | undefined)?.csr;
    if (typeof csrPem !== 'string') return { status: 400, body: { error: 'invalid_request', message: 'csr is required' } };
    const csr = new x509.Pkcs10CertificateRequest(csrPem);
    if (!(await csr.verify(webcrypto))) return { status: 400, body: { error: 'invalid_csr', message: 'the CSR signature does not verify' } };
    const cn = csr.subjectName.getField('CN')[0] ?? '';
    const issuedAt = fake.clock();
    // Backdated by a minute, as Tessera does, and never after the real time: the TLS stack
    // checks a client certificate against the real clock even when the test moves its own.
    const notBefore = Math.min(issuedAt, Date.now()) - 60_000;
    const certificate = await issue(
      csr.publicKey,
      cn,
      [{ type: 'url', value: `spiffe://tessera.test/${cn.replace(/\.(?=[^.]*$)/, '/')}` }],
      notBefore,
      issuedAt + fake.lifetimeSeconds * 1000,
    );
    return {
      status: 201,
      body: { certificate, chain: `${intermediate}\n${root}\n`, expiresAt: new Date(issuedAt + fake.lifetimeSeconds * 1000).toISOString() },
    };
  };

  const server = https.createServer(
    { cert: `${serverCert}\n${intermediate}\n`, key: serverKey, ca: root, requestCert: true, rejectUnauthorized: false },
    (request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const recorded: CaRequest = {
          method: request.method ?? '',
          path: new URL(request.url ?? '/', 'https://fake').pathname,
          body: raw === '' ? undefined : (JSON.parse(raw) as unknown),
          ...clientOf(request.socket as TLSSocket),
        };
        fake.requests.push(recorded);
        void answerFor(recorded).then((answer) => {
          if (answer.text !== undefined) {
            response.writeHead(answer.status, { 'content-type': 'application/pem-certificate-chain' });
            response.end(answer.text);
            return;
          }
          response.writeHead(answer.status, answer.body === undefined ? {} : { 'content-type': 'application/json' });
          response.end(answer.body === undefined ? undefined : JSON.stringify(answer.body));
        });
      });
    },
  );

  const answerFor = async (req: CaRequest): Promise<CaAnswer> => {
    if (req.method === 'GET' && req.path === '/ca/v1/bundle') return { status: 200, text: fake.bundle };
    if (req.method !== 'POST' || req.path !== '/ca/v1/certificates') return { status: 404, body: { error: 'not_found', message: 'no route' } };
    const next = fake.scripted.shift();
    if (next !== undefined) return typeof next === 'function' ? next(req) : next;
    if (req.body !== null && typeof req.body === 'object' && !('proof' in req.body) && req.client?.authorized !== true) {
      return { status: 401, body: { error: 'unauthorized', message: 'renewal needs a valid client certificate' } };
    }
    return signCsr(req.body);
  };

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fake.url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  fake.close = () =>
    new Promise<void>((resolve, reject) => {
      server.closeAllConnections();
      server.close((error) => (error ? reject(error) : resolve()));
    });
  return fake;
}

function generate(): Promise<webcrypto.CryptoKeyPair> {
  return webcrypto.subtle.generateKey(P256, true, ['sign', 'verify']);
}

function clientOf(socket: TLSSocket): Pick<CaRequest, 'client'> {
  const peer = socket.getPeerCertificate();
  if (peer === null || peer.raw === undefined) return {};
  const cn = peer.subject?.CN;
  return {
    client: {
      cn: typeof cn === 'string' ? cn : undefined,
      fingerprint256: createHash('sha256').update(peer.raw).digest('hex'),
      authorized: socket.authorized,
    },
  };
}
