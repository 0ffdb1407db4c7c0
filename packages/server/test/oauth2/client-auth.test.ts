// authenticateClient: exactly one method per request (RFC 6749 §2.3), and a TLS client
// certificate, which comes with the connection, counts only when the request carries no
// explicit credentials (RFC 8705 §2). Stub methods record whether they were asked.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BASIC_CHALLENGE } from '../../src/http/authorization.ts';
import { authenticateClient, type ClientAuthMethod, type ClientAuthRequest } from '../../src/oauth2/client-auth/index.ts';
import { OAuthError } from '../../src/oauth2/errors.ts';
import type { Service } from '../../src/storage/records.ts';

const request: ClientAuthRequest = { form: {}, authorization: undefined, now: 0 };

function stub(name: string, present: boolean, ambient = false): ClientAuthMethod & { asked: number } {
  const method = {
    name,
    ambient,
    asked: 0,
    present: () => {
      method.asked += 1;
      return present;
    },
    authenticate: async () => ({ service: { principal: name } as unknown as Service, method: name }),
  };
  return method;
}

describe('authenticateClient', () => {
  it('uses the one explicit method present, and does not even ask the ambient ones', async () => {
    const certificate = stub('tls_client_auth', true, true);
    const client = await authenticateClient([stub('client_secret_basic', false), stub('client_secret_post', true), certificate], request);
    assert.equal(client.method, 'client_secret_post');
    assert.equal(certificate.asked, 0);
  });

  it('uses an ambient method when no explicit one is present', async () => {
    const client = await authenticateClient([stub('client_secret_post', false), stub('tls_client_auth', true, true)], request);
    assert.equal(client.method, 'tls_client_auth');
  });

  it('refuses two explicit methods at once, naming them', async () => {
    await assert.rejects(
      authenticateClient([stub('client_secret_basic', true), stub('private_key_jwt', true), stub('tls_client_auth', true, true)], request),
      (error: unknown) =>
        error instanceof OAuthError &&
        error.status === 400 &&
        error.message === 'the request uses client_secret_basic and private_key_jwt at once; use exactly one client authentication method',
    );
  });

  it('answers 401 invalid_client with the Basic challenge when no method is present', async () => {
    await assert.rejects(
      authenticateClient([stub('client_secret_basic', false), stub('tls_client_auth', false, true)], request),
      (error: unknown) =>
        error instanceof OAuthError &&
        error.status === 401 &&
        error.code === 'AUTH_101' &&
        error.headers['www-authenticate'] === BASIC_CHALLENGE &&
        error.message === 'no client authentication: use one of client_secret_basic, tls_client_auth',
    );
  });
});
