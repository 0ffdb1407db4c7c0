// One module per client authentication method (RFC 8414 names), each implementing this
// interface; the token endpoint asks each whether the request carries its credentials and
// refuses requests that carry none or several (RFC 6749 §2.3: exactly one method per request).

import type { FastifyRequest } from 'fastify';
import type { Service } from '../../storage/records.ts';
import type { FormBody } from '../form.ts';

export interface ClientAuthRequest {
  form: FormBody;
  authorization: string | undefined;
  now: number;
  /** The HTTP request, for methods that read the TLS connection (RFC 8705); absent where there is none. */
  http?: Pick<FastifyRequest, 'raw' | 'headers'>;
}

export interface AuthenticatedClient {
  service: Service;
  method: string;
  /** RFC 8705 §3: set when the client authenticated with a certificate; the token is bound to it. */
  certificate?: BoundCertificate;
}

/** The certificate a token is bound to: its `x5t#S256`, and its notAfter, past which the token ends too. */
export interface BoundCertificate {
  /** base64url SHA-256 of the DER certificate. */
  thumbprint: string;
  /** Milliseconds since the epoch, inclusive (RFC 5280). */
  notAfter: number;
}

export interface ClientAuthMethod {
  /** The RFC 8414 name advertised in discovery. */
  readonly name: string;
  /**
   * True when the credentials come with the connection rather than in the request (a TLS client
   * certificate): they count only when no other method is present (authenticateClient).
   */
  readonly ambient?: boolean;
  /** Whether the request carries this method's credentials (it may still fail to authenticate). */
  present(request: ClientAuthRequest): boolean;
  /** Throws OAuthError invalid_client (AUTH_101) when the credentials do not prove the client. */
  authenticate(request: ClientAuthRequest): Promise<AuthenticatedClient>;
}
