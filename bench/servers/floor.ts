// The floor: the least a client-credentials token endpoint can do in Node. Plain node:http,
// form parsing, one SHA-256 secret check and one ES256 signature per request, nothing else
// (no storage, no policy, no audit). A real server cannot beat it; the question is how close
// it gets.

import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import { SignJWT, importJWK, type JWK } from 'jose';
import { serve, serverArgs } from './cluster.ts';

interface FloorArgs {
  port: number;
  processes: number;
  clientId: string;
  clientSecret: string;
  /** Private ES256 JWK, shared by every worker so one JWKS verifies them all. */
  signingJwk: JWK;
  audience: string;
  roles: string[];
}

const args = serverArgs<FloorArgs>();
const BODY_LIMIT = 64 * 1024;

await serve({
  processes: args.processes,
  async start() {
    const issuer = `http://127.0.0.1:${args.port}`;
    const key = await importJWK(args.signingJwk, 'ES256');
    const { kty, crv, x, y, kid } = args.signingJwk;
    const jwks = JSON.stringify({ keys: [{ kty, crv, x, y, kid, use: 'sig', alg: 'ES256' }] });
    const secretHash = createHash('sha256').update(args.clientSecret).digest();
    const scope = args.roles.map((role) => `${args.audience}:role.${role}`).join(' ');

    const server = createServer((req, res) => {
      const answer = (status: number, body: unknown): void => {
        res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
        res.end(JSON.stringify(body));
      };
      if (req.method === 'GET' && req.url === '/jwks') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(jwks);
        return;
      }
      if (req.method !== 'POST' || req.url !== '/token') return answer(404, { error: 'not_found' });
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > BODY_LIMIT) req.destroy();
        else chunks.push(chunk);
      });
      req.on('end', () => {
        const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
        if (form.get('grant_type') !== 'client_credentials') return answer(400, { error: 'unsupported_grant_type' });
        const [id, secret] = basicCredentials(req.headers.authorization);
        const presented = createHash('sha256')
          .update(secret ?? '')
          .digest();
        if (id !== args.clientId || !timingSafeEqual(presented, secretHash)) return answer(401, { error: 'invalid_client' });
        const now = Math.floor(Date.now() / 1000);
        new SignJWT({ client_id: id, scope, scp: args.roles })
          .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: args.signingJwk.kid })
          .setIssuer(issuer)
          .setSubject(id)
          .setAudience(args.audience)
          .setIssuedAt(now)
          .setNotBefore(now)
          .setExpirationTime(now + 3600)
          .setJti(randomUUID())
          .sign(key)
          .then(
            (token) => answer(200, { access_token: token, token_type: 'Bearer', expires_in: 3600, scope }),
            () => answer(500, { error: 'server_error' }),
          );
      });
    });
    server.keepAliveTimeout = 65_000;
    await new Promise<void>((resolve) => server.listen(args.port, '127.0.0.1', resolve));
    return {
      close: () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    };
  },
});

function basicCredentials(header: string | undefined): [string | undefined, string | undefined] {
  if (!header?.startsWith('Basic ')) return [undefined, undefined];
  const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return [undefined, undefined];
  return [decodeURIComponent(decoded.slice(0, colon)), decodeURIComponent(decoded.slice(colon + 1))];
}
