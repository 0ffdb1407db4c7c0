// Who a certificate login is for. As in the API Mediation Layer pattern, credentials given in a
// login request that also carries a client certificate take precedence and the certificate is
// ignored: explicit client credentials (Basic, client_secret, client_assertion) are tried first,
// with the token endpoint's own methods, and the token is then not certificate-bound. Otherwise
// the TLS client certificate, from Tessera's CA or one of `certLogin.trustedCas`, names the
// principal (its recorded principal for a certificate Tessera issued, or the first
// `certLogin.mappings` rule naming its CA) and the token is bound to it.

import { authenticateClient, type AuthenticatedClient, type ClientAuthMethod, type ClientAuthRequest } from '../oauth2/client-auth/index.ts';
import { boundTo, certificateCheck, certificateRejected, serviceOfCertificate, type TlsClientAuthDeps } from '../oauth2/client-auth/tls_client_auth.ts';
import { OAuthError } from '../oauth2/errors.ts';

export interface LoginAuthDeps extends Pick<TlsClientAuthDeps, 'certificates' | 'store' | 'mapper'> {
  /** The token endpoint's methods that take explicit credentials (secrets, assertions). */
  credentialMethods: readonly ClientAuthMethod[];
}

/** What audit and metrics see for a login by certificate (the same as at the token endpoint). */
export const CERTIFICATE_LOGIN_METHOD = 'tls_client_auth';

export async function authenticateLogin(deps: LoginAuthDeps, request: ClientAuthRequest): Promise<AuthenticatedClient> {
  if (deps.credentialMethods.some((method) => method.present(request))) return authenticateClient(deps.credentialMethods, request);

  const http = request.http;
  const peer = http === undefined ? null : await certificateCheck(() => deps.certificates.peerCertificate(http));
  if (peer === null) {
    throw new OAuthError(401, 'invalid_client', 'certificate login needs a client certificate (connect with mutual TLS) or client credentials in the request', {
      errorCode: 'AUTH_101',
    });
  }
  const service = await serviceOfCertificate(deps, peer);
  const clientId = request.form['client_id'];
  if (clientId !== undefined && clientId !== service.clientId) {
    throw certificateRejected(
      `client_id "${clientId.slice(0, 80)}" is not the client the certificate names (${service.clientId}); send that client_id or none`,
    );
  }
  return { service, method: CERTIFICATE_LOGIN_METHOD, certificate: boundTo(peer) };
}
